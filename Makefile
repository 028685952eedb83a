# Development convenience; the rockspec is the build truth.
#   make                 build the C core for Lua 5.4 (make LUA=luajit for LuaJIT)
#   make demo            start the simulator and run the demo workflow against it
#   make test            install what is missing, build for both, run busted under both
#   make memcheck        specs under valgrind and under an ASan/UBSan build
#   make docs            check every public function has a doc comment, build the LDoc reference in doc/reference/,
#                        check its HTML, write the man page doc/userapi.1, run the README's blocks
#   make rock            plain `luarocks make` for every Lua into a throwaway tree (also run by make test)
#   make examples        run every example of examples/ against the simulator
#   make scim            serve the SCIM bridge in front of the simulator (SCIM_PORT, USERAPI_SCIM_TOKEN, SCIM_SEED=1)
#   make fuzz            libFuzzer targets over the plain-C parsers, Lua property fuzzers (FUZZ_SECONDS each)
#   make dist            the release: build/dist/userapi-VERSION-1.src.rock and the Ansible collection tarball
#   make collection      the Ansible collection userapi.saas (ansible/, with the source rock in its install role)
#   make release-rockspec  rockspecs/userapi-VERSION-1.rockspec written anew from the scm rockspec
LUA       ?= lua5.4
PKG        = $(if $(filter luajit,$(LUA)),luajit,lua5.4)
BUILD      = build/$(LUA)
CC        ?= cc
CFLAGS    ?= -O2 -g
WARN       = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
ALL_CFLAGS = -std=gnu99 -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) $(shell pkg-config --cflags $(PKG) libcurl)
LDLIBS     = $(shell pkg-config --libs libcurl)
SRC        = $(wildcard csrc/*.c)
HDR        = $(wildcard csrc/*.h)
CORE       = $(BUILD)/userapi/core.so
BUSTED     = $(LUA) /usr/bin/busted
# the oldest libcurl the core builds against: csrc/transfer.h says the same to a build
CURL_MIN   = 7.66.0
# what the demo needs: Lua 5.4, libcurl, lua-cjson, and LuaSocket for the simulator
DEMO_DEPS  = gcc lua5.4 liblua5.4-dev libcurl4-openssl-dev pkg-config lua-cjson lua-socket
# what the tests add: every Lua the rockspec admits (spec/install_spec.lua installs for each), the
# servers and tools the specs drive (TLS, Redis, nginx, ansible, a headless browser for the review's
# HTML report), the checkers and the docs
DEB_DEPS   = $(DEMO_DEPS) \
             lua-busted lua-sec lua-check luarocks zip unzip valgrind clang openssl chromium \
             lua-ldoc lua-discount redis-server lua-redis lua-nginx-redis lua-posix ansible-core \
             lua5.1 liblua5.1-0-dev lua5.2 liblua5.2-dev lua5.3 liblua5.3-dev
# OpenResty's LuaJIT branch: what nginx's Lua module links, and our LuaJIT
NGINX_DEPS = luajit2 libluajit2-5.1-dev nginx libnginx-mod-http-lua lua-resty-core
export LUA_PATH  := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/?.lua;;
export LUA_CPATH := $(CURDIR)/$(BUILD)/?.so;;

.PHONY: all deps demo-deps prism newman scim bench-scim bench test test-one demo examples docs sim memcheck \
        fuzz lint rock clean dist collection src-rock release-rockspec check-rockspec

all: $(CORE)

$(CORE): $(SRC) $(HDR) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -shared -o $@ $(SRC) $(LDLIBS)

deps:
	@$(call apt_missing,$(DEB_DEPS) $(NGINX_DEPS))
	@$(check_curl)

demo-deps:
	@$(call apt_missing,$(DEMO_DEPS))
	@$(check_curl)

# apt-get install of the packages of $(1) not yet installed. nginx would start
# a system server on port 80 when installed: policy-rc.d (exit 101) tells
# Debian's scripts not to; the specs start their own.
define apt_missing
missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
if [ -n "$$missing" ]; then \
  echo "installing:" $$missing; \
  guard=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; \
    chmod +x /usr/sbin/policy-rc.d; guard=1; fi; \
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; rc=$$?; \
  [ -z "$$guard" ] || rm -f /usr/sbin/policy-rc.d; [ $$rc = 0 ] || exit $$rc; \
fi
endef

define check_curl
pkg-config --atleast-version=$(CURL_MIN) libcurl || { echo "userapi needs libcurl $(CURL_MIN) or newer;" \
  "pkg-config finds libcurl $$(pkg-config --modversion libcurl 2>/dev/null || echo none)" >&2; exit 1; }; \
echo "libcurl $$(pkg-config --modversion libcurl) (userapi needs $(CURL_MIN) or newer)"
endef

# Three runs side by side (most specs wait on servers, not on the CPU): the
# Lua 5.4 suite, the LuaJIT suite, and the specs tagged #nginx once (nginx
# runs the LuaJIT build whatever the suite). Each log is shown whole.
TEST_RUNS = lua5.4 luajit nginx
test: deps prism newman
	$(MAKE) lint
	$(MAKE) all LUA=luajit
	$(MAKE) all LUA=lua5.4
	@mkdir -p build
	@for r in $(TEST_RUNS); do \
	  case $$r in nginx) args="LUA=luajit BUSTED_TAGS=--tags=nginx";; *) args="LUA=$$r BUSTED_TAGS=--exclude-tags=nginx";; esac; \
	  { $(MAKE) -s test-one $$args >build/test-$$r.log 2>&1; echo $$? >build/test-$$r.rc; } & \
	done; wait; \
	rc=0; for r in $(TEST_RUNS); do echo "== specs: $$r"; cat build/test-$$r.log; test "$$(cat build/test-$$r.rc)" = 0 || rc=1; done; \
	exit $$rc

# Prism, the OpenAPI validator of the conformance specs (npm registry)
prism: build/prism/node_modules/.bin/prism
build/prism/node_modules/.bin/prism:
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	mkdir -p build/prism && npm install --prefix build/prism --no-audit --no-fund --loglevel=error @stoplight/prism-cli@5 >/dev/null

# newman, Microsoft's SCIM test collection runner (npm registry): spec/scim_newman_spec.lua
newman: build/newman/node_modules/.bin/newman
build/newman/node_modules/.bin/newman:
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	mkdir -p build/newman && npm install --prefix build/newman --no-audit --no-fund --loglevel=error newman@6 >/dev/null

# worker CPU per SCIM userName lookup against a plain userapi lookup (target <= 1.3x)
bench-scim: deps
	$(MAKE) all LUA=luajit
	$(MAKE) all LUA=lua5.4
	lua5.4 bench/scim.lua

# the SCIM bridge (nginx + LuaJIT build) in front of the simulator, until interrupted
scim: deps
	$(MAKE) all LUA=luajit
	sh spec/scim/serve.sh

test-one: $(CORE)
	@$(LUA) -e 'local c = require "userapi.core" print(("$(LUA): userapi core built against libcurl %s (running %s)"):format(c.curl_build_version, c.curl_version))'
	$(BUSTED) --lua=$(LUA) $(BUSTED_TAGS) spec

# only what the demo needs (DEMO_DEPS): no test toolchain
demo: demo-deps $(CORE)
	sim/with-sim.sh $(LUA) examples/demo.lua

# each example once, each on a fresh simulator (spec/examples_spec.lua checks them)
examples: deps $(CORE)
	sim/with-sim.sh $(LUA) examples/onboard.lua marie@example.com Marie Curie
	sim/with-sim.sh $(LUA) examples/offboard.lua ada@example.com --dry-run
	sim/with-sim.sh $(LUA) examples/offboard.lua ada@example.com
	sim/with-sim.sh $(LUA) examples/audit_export.lua
	sim/with-sim.sh $(LUA) examples/rotate_credentials.lua --sigfox "ada@example.com automation" --arthur "userapi automation"
	sim/with-sim.sh $(LUA) examples/kandji_devices.lua

# The reference: LDoc (Debian lua-ldoc; lua-discount, the Markdown that
# leaves profile_id alone) reads config.ld and writes doc/reference/. tools/doccheck.lua
# fails on any public function without a doc comment, then reads the HTML:
# every operation there, no identifier cut by emphasis (DOCCHECK_SKIP=
# directories to leave out of the source check).
DOCCHECK_SKIP ?=
docs: deps
	@command -v ldoc >/dev/null && dpkg -s lua-discount >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lua-ldoc lua-discount >/dev/null; }
	lua5.4 tools/doccheck.lua $(addprefix --skip ,$(DOCCHECK_SKIP)) lua/userapi
	rm -rf doc/reference && ldoc -q .
	lua5.4 tools/doccheck.lua --html doc/reference $(addprefix --skip ,$(DOCCHECK_SKIP)) lua/userapi
	@test -s doc/reference/index.html && echo "docs: doc/reference/index.html"
	$(MAKE) -s all LUA=lua5.4 && lua5.4 bin/userapi man > doc/userapi.1
	@test -s doc/userapi.1 && echo "docs: doc/userapi.1 (man -l doc/userapi.1)"
	sim/with-sim.sh lua5.4 tools/readme.lua README.md

sim:
	lua5.4 sim/server.lua --port 8089

lint:
	luacheck -q lua spec examples bench sim tools fuzz bin/userapi ansible/plugins/modules/user ansible/plugins/modules/user_info

memcheck: deps
	$(MAKE) clean-asan
	$(MAKE) all LUA=lua5.4
	$(MAKE) all LUA=lua5.4 BUILD=build/asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" LDLIBS="$(LDLIBS) -fsanitize=address,undefined"
	$(CC) -shared -fPIC -o build/asan/unpreload.so spec/unpreload.c $(shell pkg-config --cflags lua5.4)
	LUA_CPATH="$(CURDIR)/build/asan/?.so;;" USERAPI_CHILD_CPATH="$(CURDIR)/build/lua5.4/?.so;;" \
	  LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/.ci/lsan.supp \
	  lua5.4 -l unpreload /usr/bin/busted --exclude-tags=install,nginx spec   # install builds its own; nginx runs the LuaJIT build, not this one
	$(MAKE) all LUA=lua5.4
	LUA_CPATH="$(CURDIR)/build/lua5.4/?.so;;" USERAPI_VALGRIND=1 valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	  --suppressions=.ci/valgrind.supp lua5.4 spec/memcheck.lua

# libFuzzer over the C functions that take outside input, with sanitizers:
# fuzz/fuzz_<target>.c states the invariants each one checks. New inputs go
# to build/fuzz/corpus; the seeds in fuzz/corpus stay as committed.
FUZZ_SECONDS ?= 20
FUZZ_CC       = clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Icsrc
FUZZ_TARGETS  = fuzz_url fuzz_auth fuzz_headers
fuzz:
	@command -v clang >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null; }
	@mkdir -p build/fuzz
	$(FUZZ_CC) -o build/fuzz/fuzz_url fuzz/fuzz_url.c csrc/url.c csrc/buf.c
	$(FUZZ_CC) -o build/fuzz/fuzz_auth fuzz/fuzz_auth.c csrc/auth.c csrc/buf.c
	$(FUZZ_CC) -o build/fuzz/fuzz_headers fuzz/fuzz_headers.c csrc/transfer.c csrc/buf.c $(LDLIBS)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=build/fuzz/$$t- \
	    build/fuzz/corpus/$$t fuzz/corpus/$$t >build/fuzz/$$t.log 2>&1 \
	    || { tail -n 40 build/fuzz/$$t.log; echo "fuzz: $$t failed (input saved as build/fuzz/$$t-*)"; exit 1; }; \
	  grep -E '^stat::number_of_executed_units' build/fuzz/$$t.log | sed "s/^/fuzz: $$t /"; \
	done
	@# seeded property fuzzers of the Lua side (a failure prints its seed): CSV rows, redaction
	$(MAKE) -s all LUA=lua5.4
	lua5.4 fuzz/csv.lua $(FUZZ_SECONDS)
	lua5.4 fuzz/redact.lua $(FUZZ_SECONDS)

# userapi beside the peers a user would pick instead; see bench/run.lua
bench: deps all
	$(MAKE) all LUA=luajit
	@/usr/bin/python3 -c 'import urllib3' 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-urllib3 >/dev/null; }
	PATH="/usr/bin:$$PATH" lua5.4 bench/run.lua
	lua5.4 bench/review.lua
	lua5.4 bench/scim.lua

clean-asan:
	rm -rf build/asan

# plain `luarocks make` for every Lua the rockspec admits, into a throwaway
# tree, as README "Install" says (also part of make test's Lua 5.4 run)
rock: deps
	$(MAKE) all LUA=lua5.4
	LUA_CPATH="$(CURDIR)/build/lua5.4/?.so;;" lua5.4 /usr/bin/busted --lua=lua5.4 spec/install_spec.lua

# The release. The version is the newest release rockspec's (rockspecs/, by
# version order: 0.10.0 after 0.9.0); C's _VERSION, galaxy.yml and
# CHANGELOG.md say the same (spec/dist_spec.lua).
VERSION  := $(shell sed -n 's/^version = "\(.*\)-1"$$/\1/p' $$(ls rockspecs/userapi-*-1.rockspec 2>/dev/null | sort -V | tail -n 1))
DIST      = build/dist
SRC_ROCK  = $(DIST)/userapi-$(VERSION)-1.src.rock
# the release rockspec is the scm one with a version and a source archive
define release_rockspec
sed -e 's|^version = "scm-1"$$|version = "$(VERSION)-1"|' \
    -e 's|^source = .*|source = { url = "https://example.invalid/userapi/releases/userapi-$(VERSION).tar.gz", dir = "userapi-$(VERSION)" }|' \
    userapi-scm-1.rockspec
endef

release-rockspec:
	$(release_rockspec) > rockspecs/userapi-$(VERSION)-1.rockspec

check-rockspec:
	@$(release_rockspec) | diff -u rockspecs/userapi-$(VERSION)-1.rockspec - \
	  || { echo "rockspecs/userapi-$(VERSION)-1.rockspec differs from userapi-scm-1.rockspec: make release-rockspec"; exit 1; }

# the source archive is the files git tracks, as they are in the work tree;
# the .src.rock holds it beside the rockspec, so it installs offline
src-rock: check-rockspec
	@command -v zip >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zip unzip >/dev/null; }
	rm -rf $(DIST)/rock && mkdir -p $(DIST)/rock
	git ls-files -z | tar --null -czf $(DIST)/rock/userapi-$(VERSION).tar.gz --transform 's|^|userapi-$(VERSION)/|' -T -
	cp rockspecs/userapi-$(VERSION)-1.rockspec $(DIST)/rock/
	rm -f $(SRC_ROCK) && cd $(DIST)/rock && zip -q ../$(notdir $(SRC_ROCK)) userapi-$(VERSION)-1.rockspec userapi-$(VERSION).tar.gz
	@echo "dist: $(SRC_ROCK)"

# the collection from the files git tracks under ansible/ (as the source rock: an
# inventory or a vault file left there is not shipped), its install role carrying the source rock
collection: src-rock
	rm -rf $(DIST)/collection && mkdir -p $(DIST)/collection
	git -C ansible ls-files -z | tar --null -C ansible -cf - -T - | tar -C $(DIST)/collection -xf -
	mkdir -p $(DIST)/collection/roles/install/files && cp $(SRC_ROCK) $(DIST)/collection/roles/install/files/
	rm -f $(DIST)/userapi-saas-*.tar.gz
	ansible-galaxy collection build $(DIST)/collection --output-path $(DIST) >/dev/null
	@echo "dist: $$(ls $(DIST)/userapi-saas-*.tar.gz)"

dist: collection

clean:
	rm -rf build/lua5.4 build/luajit build/asan build/rock build/rocksrc build/fuzz build/dist
