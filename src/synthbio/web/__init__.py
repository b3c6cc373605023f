"""`synthbio serve`: a local web app over synthbio's outputs (extra `web`: Starlette + uvicorn).

config.py (ServeConfig), safety.py (paths, token, uploads), kinds.py (folder
kinds and the adapter registry) with image_view.py, fingerprint_view.py and
identity_view.py (the adapters), index.py (manifest indexes), thumbs.py,
editor.py (the latent editor and its generator backends), editor_3d.py (the
StyleGAN3 and EG3D backends), workspace.py (what one server found), tools.py
(upload pages), fingerprint_tools.py, app.py (routes). The UI is plain HTML/JS
in static/, shipped as package data. Importing this package imports nothing
heavy; `create_app` needs Starlette.
"""

from synthbio.web.config import ServeConfig

__all__ = ["ServeConfig"]
