# mcip: `make demo` and `make test` are all a fresh Debian 12 machine needs.
BUILD   ?= build
PREFIX  ?= /usr/local
TYPE    ?= Release
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps node-deps configure build test demo install clean

all: build

deps:
	@scripts/install-deps.sh

# npm packages for the integration tests (real MCP servers, llama.cpp reference).
node-deps: deps
	@scripts/install-node-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

configure: $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: deps node-deps build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

demo: deps build
	@scripts/demo.sh $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)
