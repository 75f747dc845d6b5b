"""Provide llama.cpp's ``llama-server`` binary: one on the PATH, or built once from PyPI sources.

The source is the llama.cpp tree vendored in the pinned ``llama-cpp-python`` source package
(version and sha256 below), fetched by pip from the package index and nothing else. CMake and
Ninja come from PyPI (``.venv-server``), the compiler from the system. Only the ``llama-server``
target is built, without the web UI assets (they would be downloaded) and without OpenSSL.
The binary is cached in ``.cache/llama-server/<key>/`` (git-ignored), the key a hash of the source's
sha256, the patches and the build flags.

Small patches are applied before building (``PATCHES``); they make forced tool calls work
with a model too small to emit a call on its own. ``make check-local`` proves both.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import KitError
from .environment import PROJECT_ROOT

SERVER_VENV = PROJECT_ROOT / ".venv-server"
CACHE_ROOT = PROJECT_ROOT / ".cache" / "llama-server"

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
LLAMA_CPP_COMMIT = "0c1e57098"
"""The llama.cpp commit that llama-cpp-python 0.3.36 vendors (its CHANGELOG)."""

CHAT_TEMPLATE = "models/templates/Qwen-Qwen2.5-7B-Instruct.jinja"
"""SmolLM2 speaks ChatML like Qwen2.5; this template adds the ``<tool_call>`` convention."""

MIN_PATH_VERSION = 7800
"""A llama-server on the PATH older than this build number is not used: /v1/responses arrived
around build 7800 (January 2026). ``make check-local`` is the real test of a server."""

CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # ON would download the web UI
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_CURL=OFF",
    # Portable, not native: a native build compiles ggml's AMX kernels on a CPU that has AMX, and that path
    # crashes (SIGSEGV in ggml_backend_amx_mul_mat during warm-up); a native binary also breaks when the cache
    # moves to an older CPU. With GGML_NATIVE off ggml targets x86-64-v3 (SSE4.2, AVX, AVX2, BMI2, FMA, F16C:
    # Intel Haswell 2013+, AMD Zen) and no AVX-512 or AMX; on ARM it targets plain armv8.
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX512=OFF",
    "-DGGML_AMX_TILE=OFF",
    "-DGGML_AMX_INT8=OFF",
    "-DGGML_AMX_BF16=OFF",
    f"-DLLAMA_BUILD_COMMIT={LLAMA_CPP_COMMIT}",
    "-DLLAMA_BUILD_NUMBER=0",  # the sdist has no git history; without this cmake asks the project's git
)


@dataclass(frozen=True)
class Patch:
    """Replace ``old`` by ``new`` once in ``path`` (relative to the llama.cpp tree)."""

    path: str
    old: str
    new: str
    why: str


_REQUIRED_NO_PREFIX = (
    "(inputs.tool_choice == COMMON_CHAT_TOOL_CHOICE_REQUIRED ? p.eps() : p.optional(p.content({until})))"
)

PATCHES: tuple[Patch, ...] = (
    Patch(
        "common/chat-auto-parser-generator.cpp",
        "return ctx.reasoning_parser + p.optional(p.content(p.until(tool_start))) + tools_parser + p.end();",
        "return ctx.reasoning_parser + " + _REQUIRED_NO_PREFIX.format(until="p.until(tool_start)")
        + " + tools_parser + p.end();",
        "tool_choice=required: the grammar allowed any text before the call, so a small model "
        "rambled until max_tokens; with this the reply must start with the call.",
    ),
    Patch(
        "common/chat-auto-parser-generator.cpp",
        "    auto        content_before_tools = trigger_marker.empty() ? p.eps() : p.until(trigger_marker);\n"
        "    return ctx.reasoning_parser + p.optional(p.content(content_before_tools)) + tool_calls + p.end();\n"
        "}\n\ncommon_peg_parser analyze_tools::build_tool_parser_tag_tagged",
        "    auto        content_before_tools = trigger_marker.empty() ? p.eps() : p.until(trigger_marker);\n"
        "    return ctx.reasoning_parser + " + _REQUIRED_NO_PREFIX.format(until="content_before_tools")
        + " + tool_calls + p.end();\n"
        "}\n\ncommon_peg_parser analyze_tools::build_tool_parser_tag_tagged",
        "the same for templates whose calls are tagged JSON",
    ),
    Patch(
        "tools/server/server-common.cpp",
        '    auto tool_choice = json_value(body, "tool_choice", std::string("auto"));\n',
        '    std::string tool_choice = "auto";\n'
        '    if (body.contains("tool_choice") && body.at("tool_choice").is_object()) {\n'
        "        // Chat form {\"type\": \"function\", \"function\": {\"name\": N}} or Responses form\n"
        "        // {\"type\": \"function\", \"name\": N}: offer only tool N and require a call\n"
        '        const json & named_choice = body.at("tool_choice");\n'
        '        const std::string wanted = (named_choice.contains("function") ? named_choice.at("function") : named_choice)\n'  # noqa: E501 -- C++ source text, kept byte for byte
        '                                       .at("name").get<std::string>();\n'
        "        json named = json::array();\n"
        "        for (const auto & tool : tools) {\n"
        '            if (tool.at("function").at("name") == wanted) { named.push_back(tool); }\n'
        "        }\n"
        "        if (named.empty()) {\n"
        '            throw std::invalid_argument("tool_choice names a function that is not in tools: " + wanted);\n'
        "        }\n"
        "        tools = named;\n"
        '        tool_choice = "required";\n'
        "    } else {\n"
        '        tool_choice = json_value(body, "tool_choice", std::string("auto"));\n'
        "    }\n",
        "the object form of tool_choice was read as a string and fell back to auto; OpenAI's meaning "
        "is 'call this function', so narrow the tools to it and require a call. /v1/responses passes its own form "
        "({\"type\": \"function\", \"name\": N}) through unchanged, so both forms are read.",
    ),
    Patch(
        "common/chat-auto-parser-generator.cpp",
        "tools_parser = p.trigger_rule(\"tool-calls\", p.one_or_more(single_tool_parser + p.space()));",
        "tools_parser = p.trigger_rule(\"tool-calls\", inputs.parallel_tool_calls\n"
        "                                                          ? p.one_or_more(single_tool_parser + p.space())\n"
        "                                                          : single_tool_parser + p.space());",
        "parallel_tool_calls=false was ignored for templates that wrap each call (<tool_call>...</tool_call>): "
        "the grammar allowed one or more calls, so a small model repeated a forced call 2-5 times.",
    ),
)


def source_key() -> str:
    """Changes with the source, the patches or the build flags, so any of them triggers a new build."""
    recipe = repr((SDIST_SHA256, PATCHES, CMAKE_FLAGS, CHAT_TEMPLATE))
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def cache_dir() -> Path:
    return CACHE_ROOT / source_key()


def cached_binary() -> Path:
    return cache_dir() / "bin" / "llama-server"


def cached_template() -> Path:
    return cache_dir() / "bin" / Path(CHAT_TEMPLATE).name


def build_log() -> Path:
    return cache_dir() / "build.log"


@dataclass(frozen=True)
class Version:
    build: int
    commit: str
    text: str


def parse_version(output: str) -> Version | None:
    """Read ``llama-server --version`` in either format llama.cpp has printed:
    ``version: 7800 (abc1234)`` or ``version: 0.5.0-dev (build 0, commit 0c1e57098)``."""
    old = re.search(r"version:\s*(\d+)\s*\((\w+)\)", output)
    if old:
        return Version(int(old.group(1)), old.group(2), f"b{old.group(1)} ({old.group(2)})")
    new = re.search(r"version:\s*(\S+)\s*\(build\s*(\d+),\s*commit\s*(\w+)\)", output)
    if new:
        return Version(int(new.group(2)), new.group(3), f"{new.group(1)} (commit {new.group(3)})")
    return None


def version_of(binary: str | Path) -> Version | None:
    """The version ``llama-server --version`` reports, or None if it does not answer."""
    try:
        result = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_version(result.stdout + result.stderr)


def on_path() -> Path | None:
    """A ``llama-server`` on the PATH that is new enough, if any (Homebrew, winget, a distro)."""
    found = shutil.which("llama-server")
    if not found:
        return None
    version = version_of(found)
    if version is None or version.build < MIN_PATH_VERSION:
        shown = version.text if version else "无法识别"
        print(f"PATH 上的 {found} 版本过旧或无法识别（{shown}），改用自行编译的版本。")
        return None
    return Path(found)


def _tool(name: str) -> str:
    candidate = SERVER_VENV / "bin" / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise KitError(f"找不到 {name}：请用 make serve-local（它会先从 PyPI 安装 cmake 和 ninja）。")
    return found


def _download_sdist(into: Path) -> Path:
    """pip fetches the pinned sdist from the configured package index, checked by its sha256."""
    requirement = into / "requirement.txt"
    requirement.write_text(f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION} --hash=sha256:{SDIST_SHA256}\n")
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
        "--require-hashes", "-r", str(requirement), "-d", str(into),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    (archive,) = into.glob("llama_cpp_python-*.tar.gz")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise KitError(f"源码包校验失败：sha256 {digest} 不是固定的 {SDIST_SHA256}。")
    return archive


def _extract_llama_cpp(archive: Path, into: Path) -> Path:
    prefix = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/"
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
        tar.extractall(into, members=members, filter="data")
    return into / prefix


def apply_patches(tree: Path) -> None:
    for patch in PATCHES:
        file = tree / patch.path
        text = file.read_text()
        if text.count(patch.old) != 1:
            raise KitError(f"补丁无法应用：{patch.path} 中找不到唯一的原文（{patch.why[:40]}…）。")
        file.write_text(text.replace(patch.old, patch.new))


def _run_logged(command: list[str], log, progress: bool) -> None:
    """Run a build step, keep everything in the log, show ninja's [n/m] as one progress line."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    last_shown = -1
    for line in process.stdout:
        log.write(line)
        match = re.match(r"\[(\d+)/(\d+)\]", line)
        if progress and match:
            done, total = int(match.group(1)), int(match.group(2))
            percent = 100 * done // total
            if sys.stdout.isatty():
                print(f"\r  编译 llama-server：{done}/{total}（{percent}%）", end="", flush=True)
            elif percent >= last_shown + 10:
                print(f"  编译 llama-server：{done}/{total}（{percent}%）", flush=True)
                last_shown = percent
    if process.wait() != 0:
        raise subprocess.CalledProcessError(process.returncode, command)
    if progress and sys.stdout.isatty():
        print()


def build() -> Path:
    """Build the patched ``llama-server`` into the cache (once) and return its path."""
    binary = cached_binary()
    if binary.exists():
        return binary
    cache_dir().mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"首次使用：从 PyPI 上的 llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} 源码包编译 llama-server"
          "（2 核约 10–20 分钟，只需一次）。")  # fmt: skip
    with tempfile.TemporaryDirectory(dir=cache_dir()) as scratch, build_log().open("w") as log:
        work = Path(scratch)
        try:
            print("  下载并校验源码包……", flush=True)
            tree = _extract_llama_cpp(_download_sdist(work), work / "src")
            apply_patches(tree)
            print("  配置（CMake + Ninja）……", flush=True)
            _run_logged(
                [_tool("cmake"), "-S", str(tree), "-B", str(work / "build"), "-G", "Ninja",
                 f"-DCMAKE_MAKE_PROGRAM={_tool('ninja')}", *CMAKE_FLAGS],
                log, progress=False,
            )  # fmt: skip
            jobs = str(os.cpu_count() or 2)
            _run_logged(
                [_tool("cmake"), "--build", str(work / "build"), "--target", "llama-server", "-j", jobs],
                log, progress=True,
            )  # fmt: skip
        except (subprocess.CalledProcessError, OSError, KitError, ValueError) as error:
            raise KitError(f"llama-server 编译失败（{error}）；完整日志见 {build_log()}。") from None
        built = work / "build" / "bin" / "llama-server"
        staging = cache_dir() / "bin.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        shutil.copy2(built, staging / "llama-server")
        shutil.copy2(tree / CHAT_TEMPLATE, staging / Path(CHAT_TEMPLATE).name)
        staging.rename(cache_dir() / "bin")  # appears whole or not at all
    minutes = (time.monotonic() - started) / 60
    print(f"  完成：{binary}（用时 {minutes:.1f} 分钟，已缓存）。")
    return binary


def template_for(binary: Path) -> Path:
    """The chat template that goes with a binary: ours from the cache, else the vendored copy."""
    if cached_template().exists():
        return cached_template()
    raise KitError("缺少聊天模板：请先运行 make serve-local 编译一次（模板随源码包提供）。")


def main(argv: list[str]) -> int:
    """``python -m tutorial_kit.machinery.llama_build``: build (or find) the binary and print its path."""
    try:
        print(build())
    except KitError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
