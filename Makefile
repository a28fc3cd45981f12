# Commands people type. The real build is meson; this file only wires the
# steps together so that a fresh machine needs one command.

BUILD ?= build
BUILD_SAN ?= build-san
MESON_SETUP_FLAGS ?= --werror

.PHONY: all deps build build-san k8s helm deploy-manifests test test-unit test-e2e test-san format format-check clean

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

# Every suite in the normal build, then the unit suite under AddressSanitizer
# and UndefinedBehaviorSanitizer.
test: build build-san k8s helm
# Every suite in the normal build, then the unit and emulator suites under
# AddressSanitizer and UndefinedBehaviorSanitizer.
test: build build-san
	meson test -C $(BUILD) --print-errorlogs
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 meson test -C $(BUILD_SAN) --suite unit --suite emulator --print-errorlogs

test-unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

test-e2e: build k8s helm
	meson test -C $(BUILD) --suite e2e --print-errorlogs

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
