# forkwatch build. `make` installs what is missing (apt, npm), then builds the BPF object and its
# skeleton, the native addon and the TypeScript. Run as root on Debian 12 (or with sudo).

ARCH        ?= $(shell uname -m | sed 's/x86_64/x86/; s/aarch64/arm64/')
BUILD       := build
BPF_CLANG   ?= clang
BPF_CFLAGS  := -g -O2 -Wall -target bpf -D__TARGET_ARCH_$(ARCH) -Ibpf -Ibpf/vmlinux/$(ARCH)
VMLINUX     := bpf/vmlinux/$(ARCH)/vmlinux.h

# Debian packages: to build, and (TEST_PKGS) what the tests and benchmarks drive.
BUILD_PKGS  := clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make gcc g++ python3
TEST_PKGS   := prometheus stress-ng util-linux procps systemd

.PHONY: all deps test-deps bpf bpf-variant addon ts run test clean vmlinux docs

all: deps bpf addon ts

# ---- dependencies -------------------------------------------------------------------------
deps: $(BUILD)/.apt-build node_modules/.installed

$(BUILD)/.apt-build:
	@scripts/apt-ensure.sh $(BUILD_PKGS)
	@mkdir -p $(BUILD) && touch $@

test-deps: $(BUILD)/.apt-test

$(BUILD)/.apt-test:
	@scripts/apt-ensure.sh $(TEST_PKGS)
	@mkdir -p $(BUILD) && touch $@

# re2 (the linear-time regex engine) builds from source on install: node-gyp takes Node's headers
# from /usr when Debian's package ships them, as the addon does, instead of downloading them.
node_modules/.installed: package.json package-lock.json | $(BUILD)/.apt-build
	npm install --no-audit --no-fund $(if $(wildcard /usr/include/node/node_api.h),--nodedir=/usr)
	@# An npm that skips dependencies' install scripts leaves re2 unbuilt: build it here.
	@test -f node_modules/re2/build/Release/re2.node || (cd node_modules/re2 && ../.bin/node-gyp rebuild --loglevel=warn $(if $(wildcard /usr/include/node/node_api.h),--nodedir=/usr))
	@touch $@

# ---- kernel side --------------------------------------------------------------------------
bpf: $(BUILD)/bpf/proc.skel.h

$(BUILD)/bpf/proc.bpf.o: bpf/proc.bpf.c bpf/proc.h bpf/core_shims.h $(VMLINUX) $(BUILD)/.apt-build
	@mkdir -p $(dir $@)
	$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	mv $@.tmp $@

$(BUILD)/bpf/proc.skel.h: $(BUILD)/bpf/proc.bpf.o
	bpftool gen skeleton $< name proc > $@.tmp && mv $@.tmp $@

# A knockout build of the same programs, for bench/bpf-attrib.mjs:
#   make bpf-variant VARIANT="-DFW_KO_RECORD=1 -DFW_KO_COUNTERS=1" OUT=/tmp/x.bpf.o
# VARIANT takes only the FW_KO_* switches of bpf/proc.bpf.c; the agent's own build sets none.
bpf-variant: bpf/proc.bpf.c bpf/proc.h bpf/core_shims.h $(VMLINUX) $(BUILD)/.apt-build
	@test -n "$(OUT)" || { echo "make bpf-variant: OUT=FILE is required" >&2; exit 2; }
	@for f in $(VARIANT); do case "$$f" in -DFW_KO_[A-Z]*) ;; *) echo "make bpf-variant: VARIANT takes -DFW_KO_* switches only, not '$$f'" >&2; exit 2;; esac; done
	$(BPF_CLANG) $(BPF_CFLAGS) $(VARIANT) -c $< -o $(OUT).tmp
	mv $(OUT).tmp $(OUT)

# vmlinux.h is vendored (see bpf/vmlinux/README.md); this regenerates it from the running kernel.
vmlinux:
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $(VMLINUX)

# ---- native addon -------------------------------------------------------------------------
addon: addon/build/Release/forkwatch.node

addon/build/Release/forkwatch.node: $(BUILD)/bpf/proc.skel.h $(wildcard addon/*.cc addon/*.h) addon/binding.gyp node_modules/.installed
	cd addon && ../node_modules/.bin/node-gyp rebuild --loglevel=warn $(if $(wildcard /usr/include/node/node_api.h),--nodedir=/usr)

# ---- TypeScript ---------------------------------------------------------------------------
ts: dist/.built

dist/.built: $(shell find src -name '*.ts') tsconfig.json node_modules/.installed
	node_modules/.bin/tsc -p tsconfig.json
	@touch $@

# ---- the two commands of the README -------------------------------------------------------
run: all
	node bin/forkwatch.js run $(ARGS)

test: all test-deps
	node_modules/.bin/vitest run $(VITEST_ARGS)

# The README's metric reference, from src/metrics/definitions.ts.
docs: ts
	node scripts/metrics-doc.mjs

clean:
	rm -rf $(BUILD) dist addon/build
