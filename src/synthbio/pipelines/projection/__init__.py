"""Images into latents: `synthbio project` (the StyleGAN2-ADA projector schedule, resumable) and
`synthbio project-database` (every sample of a database protocol / group, resumable and shardable)."""

from synthbio.pipelines.projection.database import ProjectDatabaseConfig, ProjectDatabaseResult, project_database
from synthbio.pipelines.projection.project import ProjectImagesConfig, ProjectImagesResult, project_images

__all__ = ["ProjectDatabaseConfig", "ProjectDatabaseResult", "ProjectImagesConfig", "ProjectImagesResult",
           "project_database", "project_images"]
