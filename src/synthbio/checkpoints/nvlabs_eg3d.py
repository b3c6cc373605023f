"""Official EG3D generators (`TriPlaneGenerator`) from NVlabs network pickles.

EG3D pickles mix persistent records (the generator, its StyleGAN2 backbone,
the super-resolution module, the decoder's layers) with four plain classes
named by module path (decoder, importance renderer, ray marcher, ray sampler)
and torch's Sequential / Softplus inside the decoder. The restricted
unpickler of `synthbio.checkpoints.nvlabs` maps exactly those names to inert
records and refuses every other global; here the records are checked (each
part must be the class the official code uses) and mapped onto synthbio's
`EG3DGenerator`: the backbone's config from its own record, the rendering
settings from the generator's `rendering_kwargs` and
`neural_rendering_resolution` attributes, the sizes of the decoder and the
super-resolution blocks from their weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthbio.checkpoints.nvlabs import (
    PersistentRecord,
    generator_config_from_record,
    load_state_strict,
    record_state_dict,
)
from synthbio.errors import CheckpointError, InputError
from synthbio.nn.eg3d import SR_KINDS, EG3DConfig, EG3DGenerator

# Which part must be which class: attribute -> (module path, class name); '' = a persistent record.
_PARTS = {
    "renderer": ("training.volumetric_rendering.renderer", "ImportanceRenderer"),
    "ray_sampler": ("training.volumetric_rendering.ray_sampler", "RaySampler"),
    "decoder": ("training.triplane", "OSGDecoder"),
    "backbone": ("", "Generator"),
}


def _part(rec: PersistentRecord, name: str, *, path: Path, which: str) -> PersistentRecord:
    sub = rec.child(name)
    module, cls = _PARTS[name]
    if sub is None or sub.class_name != cls or sub.module != module:
        got = "nothing" if sub is None else f"{sub.module + '.' if sub.module else ''}{sub.class_name}"
        want = f"{module + '.' if module else ''}{cls}"
        raise CheckpointError(f"{path}: '{which}.{name}' is {got}, not the official {want}")
    return sub


def _number(value: Any, key: str, *, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckpointError(f"{path}: rendering option {key}={value!r} is not supported (a number is needed)")
    return float(value)


def eg3d_config_from_record(rec: PersistentRecord, *, path: Path, which: str = "G_ema") -> EG3DConfig:
    """Official TriPlaneGenerator record -> EG3DConfig."""
    if rec.class_name != "TriPlaneGenerator":
        raise CheckpointError(f"{path}: '{which}' is a {rec.class_name!r}, not a TriPlaneGenerator")
    kw = rec.init_kwargs
    rk = rec.state.get("rendering_kwargs", kw.get("rendering_kwargs"))
    if not isinstance(rk, dict):
        raise CheckpointError(f"{path}: '{which}' holds no rendering_kwargs")
    renderer = _part(rec, "renderer", path=path, which=which)
    marcher = renderer.child("ray_marcher")
    if marcher is None or (marcher.module, marcher.class_name) != ("training.volumetric_rendering.ray_marcher",
                                                                   "MipRayMarcher2"):
        raise CheckpointError(f"{path}: '{which}.renderer.ray_marcher' is not the official MipRayMarcher2")
    _part(rec, "ray_sampler", path=path, which=which)
    decoder = _part(rec, "decoder", path=path, which=which)
    backbone_rec = _part(rec, "backbone", path=path, which=which)
    sr = rec.child("superresolution")
    if sr is None or sr.class_name not in SR_KINDS:
        got = None if sr is None else sr.class_name
        raise CheckpointError(f"{path}: '{which}.superresolution' is {got!r}, not one of {', '.join(SR_KINDS)}")

    backbone = generator_config_from_record(backbone_rec, path=path, which=f"{which}.backbone")
    if backbone.img_channels % 3:
        raise CheckpointError(f"{path}: the backbone draws {backbone.img_channels} channels, not three planes")
    dec = record_state_dict(decoder)
    sr_state = record_state_dict(sr)
    try:
        hidden, plane_channels = dec["net.0.weight"].shape
        out_dim = int(dec["net.2.weight"].shape[0]) - 1
        sr_channels = (int(sr_state["block0.conv1.weight"].shape[0]), int(sr_state["block1.conv1.weight"].shape[0]))
    except KeyError as exc:
        raise CheckpointError(f"{path}: '{which}' lacks {exc} in its decoder or super-resolution") from None
    sr_fp16 = int(kw.get("sr_num_fp16_res", 0))
    block1 = sr.child("block1")
    layer = block1.child("conv1") if block1 is not None else None
    if layer is not None and "conv_clamp" in layer.state:  # on CPU the fp16 setting only decides the clamp
        clamped = layer.state["conv_clamp"] is not None
        if clamped != (sr_fp16 > 0):
            sr_fp16 = 4 if clamped else 0
    for key in ("ray_start", "ray_end"):
        _number(rk.get(key), key, path=path)
    if rk.get("clamp_mode", "softplus") != "softplus":
        raise CheckpointError(f"{path}: clamp_mode {rk.get('clamp_mode')!r} is not supported (only softplus, as "
                              "the official ray marcher)")
    values = dict(
        z_dim=backbone.z_dim, c_dim=backbone.c_dim, w_dim=backbone.w_dim,
        img_resolution=int(kw.get("img_resolution", rec.state.get("img_resolution", 0))),
        img_channels=int(kw.get("img_channels", rec.state.get("img_channels", 3))),
        backbone_resolution=backbone.img_resolution, plane_channels=backbone.img_channels // 3,
        channel_base=backbone.channel_base, channel_max=backbone.channel_max, num_fp16_res=backbone.num_fp16_res,
        conv_clamp=backbone.conv_clamp, mapping_layers=backbone.mapping_layers,
        mapping_lr_multiplier=backbone.mapping_lr_multiplier, w_avg_beta=backbone.w_avg_beta,
        decoder_hidden=int(hidden), decoder_output_dim=out_dim,
        decoder_lr_multiplier=_number(rk.get("decoder_lr_mul", 1), "decoder_lr_mul", path=path),
        sr_kind=sr.class_name, sr_channels=sr_channels, sr_num_fp16_res=sr_fp16,
        sr_antialias=bool(sr.state.get("sr_antialias", rk.get("sr_antialias", True))),
        neural_rendering_resolution=int(rec.state.get("neural_rendering_resolution", 64)),
        depth_resolution=int(rk.get("depth_resolution", 48)),
        depth_resolution_importance=int(rk.get("depth_resolution_importance", 48)),
        ray_start=float(rk["ray_start"]), ray_end=float(rk["ray_end"]),
        box_warp=_number(rk.get("box_warp", 1), "box_warp", path=path),
        white_back=bool(rk.get("white_back", False)),
        disparity_space_sampling=bool(rk.get("disparity_space_sampling", False)),
        c_gen_conditioning_zero=bool(rk.get("c_gen_conditioning_zero", False)),
        c_scale=_number(rk.get("c_scale", 0), "c_scale", path=path),  # the official mapping's default is 0
        superresolution_noise_mode=str(rk.get("superresolution_noise_mode", "none")),
        density_noise=_number(rk.get("density_noise", 0), "density_noise", path=path),
        avg_camera_radius=_number(rk.get("avg_camera_radius", 2.7), "avg_camera_radius", path=path),
        avg_camera_pivot=tuple(float(v) for v in rk.get("avg_camera_pivot", (0, 0, 0))),
    )
    if int(plane_channels) != values["plane_channels"]:
        raise CheckpointError(f"{path}: the decoder reads {plane_channels} channels, the planes have "
                              f"{values['plane_channels']}")
    try:
        return EG3DConfig(**values)
    except (InputError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the EG3D configuration of '{which}': {exc}") from None


def load_eg3d_record(rec: PersistentRecord, *, path: Path, which: str = "G_ema") -> EG3DGenerator:
    """A TriPlaneGenerator record -> EG3DGenerator with its exact state (CPU, eval mode)."""
    G = EG3DGenerator(eg3d_config_from_record(rec, path=path, which=which))
    load_state_strict(G, record_state_dict(rec), path=path, what=f"'{which}'")
    return G.eval()
