# Commands people type. The real build is meson; this file only wires the
# steps together so that a fresh machine needs one command.

BUILD ?= build
BUILD_SAN ?= build-san
MESON_SETUP_FLAGS ?= --werror

.PHONY: all deps build build-san k8s helm deploy-manifests test test-unit test-e2e test-san demo demo-down format format-check clean

all: build

deps:
	./scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_SETUP_FLAGS)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

$(BUILD_SAN)/build.ninja:
	meson setup $(BUILD_SAN) $(MESON_SETUP_FLAGS) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

build-san: deps $(BUILD_SAN)/build.ninja
	meson compile -C $(BUILD_SAN)

# kube-apiserver, kube-controller-manager, kubectl and etcd for the e2e
# suite, built from the Go modules pinned in test/k8s/go.mod. A no-op
# unless test/k8s/go.sum changed.
k8s:
	./test/k8s/build.sh

# helm for the chart tests, built from test/helm/go.mod. A no-op unless
# test/helm/go.sum changed.
helm:
	./test/helm/build.sh

# Regenerate the chart's CRD and webhook template and manifests/deploy/
# from their sources in manifests/.
deploy-manifests: helm
	./scripts/generate-deploy.sh

# Every suite in the normal build, then the unit and emulator suites under
# AddressSanitizer and UndefinedBehaviorSanitizer. Both runs always finish,
# and the last line counts the tests of both.
test: format-check build build-san k8s helm
	@status=0; \
	meson test -C $(BUILD) --print-errorlogs || status=1; \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    meson test -C $(BUILD_SAN) --suite unit --suite emulator \
	    --print-errorlogs || status=1; \
	./scripts/test-summary.sh $(BUILD)/meson-logs/testlog.json \
	    $(BUILD_SAN)/meson-logs/testlog.json || status=1; \
	exit $$status

test-unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

test-e2e: build k8s helm
	meson test -C $(BUILD) --suite e2e --print-errorlogs

# The local control plane, the Azure emulator and the webhook on 127.0.0.1
# with their files in .demo/, then the example manifest applied and its
# result shown. Everything keeps running until `make demo-down`.
demo: build k8s
	./scripts/demo-up.sh $(BUILD)

demo-down:
	./scripts/demo-down.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check: deps
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
