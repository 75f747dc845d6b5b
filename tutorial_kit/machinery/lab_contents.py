"""The contents manager ``make lab`` runs: notebooks load with the running Python's version in
their metadata and are saved in the stored form (see ``notebook_metadata``)."""

from __future__ import annotations

from typing import Any

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

from .notebook_metadata import KERNELSPEC, add_running_python, normalise_metadata


def _is_python_notebook(model: dict[str, Any]) -> bool:
    content = model.get("content")
    return (
        model.get("type") == "notebook"
        and isinstance(content, dict)
        and content.get("metadata", {}).get("kernelspec", {}).get("name") == KERNELSPEC["name"]
    )


class LessonContentsManager(AsyncLargeFileManager):
    async def get(self, path: str, content: bool = True, type: str | None = None, **kwargs: Any) -> dict[str, Any]:
        model = await super().get(path, content=content, type=type, **kwargs)
        if _is_python_notebook(model):
            add_running_python(model["content"])
        return model

    def run_pre_save_hooks(self, model: dict[str, Any], path: str, **kwargs: Any) -> None:
        super().run_pre_save_hooks(model, path, **kwargs)
        if _is_python_notebook(model):
            normalise_metadata(model["content"])
