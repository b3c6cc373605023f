"""Images into latents: `synthbio project` (the StyleGAN2-ADA projector schedule, resumable)."""

from synthbio.pipelines.projection.project import ProjectImagesConfig, ProjectImagesResult, project_images

__all__ = ["ProjectImagesConfig", "ProjectImagesResult", "project_images"]
