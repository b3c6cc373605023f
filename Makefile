# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates .venv, installs torch first (CPU build pinned; override with
# TORCH_SPEC=...), then synthbio with the extras it needs.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.synthbio-installed
DEMO_OUT ?= demo_out

.PHONY: demo test install bench clean browser

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[fingerprints,interop,faces,test,ray,web]"
	tools/build_nbis.sh $(VENV)
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/synthbio fingerprints generate --fingers 20 --impressions 4 --seed 0 --outdir $(DEMO_OUT)/fingerprints && $(BIN)/synthbio fingerprints evaluate $(DEMO_OUT)/fingerprints && echo "demo report: $(DEMO_OUT)/fingerprints_report/index.html"
	$(BIN)/synthbio generate --model fingerprint-default --seeds 0-63 --grid --outdir $(DEMO_OUT)/gan && echo "shipped generator's samples: $(DEMO_OUT)/gan"
	$(BIN)/synthbio fingerprints attack $(DEMO_OUT)/fingerprints --template-source mindtct --impostors all && echo "template-inversion audit: $(DEMO_OUT)/fingerprints_attack/index.html"
	$(BIN)/synthbio fingerprints reconstruct $(DEMO_OUT)/fingerprints/00000/00.iso -o $(DEMO_OUT)/mated.png --impressions 4 && echo "mated impressions of one template: $(DEMO_OUT)/mated"

# The browser tests (tests/web) drive Debian's chromium: installed here when running as root and online
# (CI); otherwise those tests skip and say why.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(timeout 900 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "chromium could not be installed (offline?): the browser tests will skip"; \
	else echo "not root or no apt-get: chromium not installed, the browser tests will skip"; fi

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
