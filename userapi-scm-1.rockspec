rockspec_format = "3.0"
package = "userapi"
version = "scm-1"
source = { url = "git+https://example.invalid/userapi.git" }
description = {
  summary = "User accounts on Opendatasoft, Arthur, Kandji and Sigfox from one Lua API",
  detailed = [[
    Every users operation of four vendor REST APIs as Lua functions, over a
    small libcurl core: connection reuse, concurrent requests, retries, paging.
    Needs libcurl >= 7.66.0 (development files) and lua-cjson.
  ]],
  license = "MIT",
}
-- Every Lua from 5.1 (and LuaJIT 2.1) to 5.4: csrc/compat.h maps the C API.
--
-- lua-cjson (>= 2.1) is needed at run time but not declared here: LuaRocks
-- cannot see Debian's and Ubuntu's lua-cjson package, so a declared
-- dependency would make `luarocks make` fetch and build a second copy, and
-- fail offline, where the packaged one already works for every Lua. A missing
-- cjson is reported when userapi loads, with both ways to install it
-- (lua/userapi/json.lua); README "Install" says the same.
dependencies = { "lua >= 5.1, < 5.5" }
-- libcurl 7.66.0 or newer (csrc/transfer.h stops the build with a clear message
-- on an older one). Only the library is looked up: finding curl/curl.h is the
-- compiler's job, and its default search path has the multiarch directory
-- (/usr/include/x86_64-linux-gnu) where Debian and Ubuntu put it, which
-- LuaRocks does not search. CURL_DIR=/opt/curl (or CURL_INCDIR, CURL_LIBDIR)
-- still selects another libcurl: $(CURL_INCDIR) comes before the defaults.
external_dependencies = { CURL = { library = "curl" } }
build = {
  type = "builtin",
  modules = {
    ["userapi.core"] = {
      sources = { "csrc/core.c", "csrc/session.c", "csrc/multi.c", "csrc/request.c", "csrc/response.c",
                  "csrc/errors.c", "csrc/pool.c", "csrc/buf.c", "csrc/url.c", "csrc/auth.c", "csrc/transfer.c",
                  "csrc/os.c", "csrc/binding.c" },
      libraries = { "curl" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
    },
    ["userapi"] = "lua/userapi/init.lua",
    ["userapi.client"] = "lua/userapi/client.lua",
    ["userapi.check"] = "lua/userapi/check.lua",
    ["userapi.vendor"] = "lua/userapi/vendor.lua",
    ["userapi.util"] = "lua/userapi/util.lua",
    ["userapi.refusal"] = "lua/userapi/refusal.lua",
    ["userapi.phase"] = "lua/userapi/phase.lua",
    ["userapi.options"] = "lua/userapi/options.lua",
    ["userapi.class"] = "lua/userapi/class.lua",
    ["userapi.vendors"] = "lua/userapi/vendors/init.lua",
    ["userapi.errors"] = "lua/userapi/errors.lua",
    ["userapi.json"] = "lua/userapi/json.lua",
    ["userapi.csv"] = "lua/userapi/csv.lua",
    ["userapi.fetcher"] = "lua/userapi/fetcher.lua",
    ["userapi.oidc"] = "lua/userapi/oidc.lua",
    ["userapi.auth"] = "lua/userapi/auth.lua",
    ["userapi.attempt"] = "lua/userapi/attempt.lua",
    ["userapi.secrets"] = "lua/userapi/secrets.lua",
    ["userapi.tenant"] = "lua/userapi/tenant.lua",
    ["userapi.retry"] = "lua/userapi/retry.lua",
    ["userapi.limiter"] = "lua/userapi/limiter.lua",
    ["userapi.store"] = "lua/userapi/store/init.lua",
    ["userapi.store.fingerprint"] = "lua/userapi/store/fingerprint.lua",
    ["userapi.store.memory"] = "lua/userapi/store/memory.lua",
    ["userapi.store.shdict"] = "lua/userapi/store/shdict.lua",
    ["userapi.store.redis"] = "lua/userapi/store/redis.lua",
    ["userapi.paging"] = "lua/userapi/paging.lua",
    ["userapi.bulk"] = "lua/userapi/bulk.lua",
    ["userapi.stream"] = "lua/userapi/stream.lua",
    ["userapi.people"] = "lua/userapi/people.lua",
    ["userapi.people.compare"] = "lua/userapi/people/compare.lua",
    ["userapi.people.record"] = "lua/userapi/people/record.lua",
    ["userapi.people.shape"] = "lua/userapi/people/shape.lua",
    ["userapi.state"] = "lua/userapi/state.lua",
    ["userapi.directory"] = "lua/userapi/directory.lua",
    ["userapi.review"] = "lua/userapi/review.lua",
    ["userapi.review_html"] = "lua/userapi/review_html.lua",
    ["userapi.scim"] = "lua/userapi/scim.lua",
    ["userapi.scim.discovery"] = "lua/userapi/scim/discovery.lua",
    ["userapi.scim.filter"] = "lua/userapi/scim/filter.lua",
    ["userapi.scim.pages"] = "lua/userapi/scim/pages.lua",
    ["userapi.scim.patch"] = "lua/userapi/scim/patch.lua",
    ["userapi.scim.resource"] = "lua/userapi/scim/resource.lua",
    ["userapi.scim.schema"] = "lua/userapi/scim/schema.lua",
    ["userapi.scim.store"] = "lua/userapi/scim/store.lua",
    ["userapi.scim.users"] = "lua/userapi/scim/users.lua",
    ["userapi.journal"] = "lua/userapi/journal.lua",
    ["userapi.rotate"] = "lua/userapi/rotate.lua",
    ["userapi.ansible"] = "lua/userapi/ansible.lua",
    ["userapi.ansible.args"] = "lua/userapi/ansible/args.lua",
    ["userapi.cli"] = "lua/userapi/cli.lua",
    ["userapi.cli.args"] = "lua/userapi/cli/args.lua",
    ["userapi.cli.flags"] = "lua/userapi/cli/flags.lua",
    ["userapi.cli.client"] = "lua/userapi/cli/client.lua",
    ["userapi.cli.help"] = "lua/userapi/cli/help.lua",
    ["userapi.cli.man"] = "lua/userapi/cli/man.lua",
    ["userapi.cli.people"] = "lua/userapi/cli/people.lua",
    ["userapi.cli.people_input"] = "lua/userapi/cli/people_input.lua",
    ["userapi.cli.people_journal"] = "lua/userapi/cli/people_journal.lua",
    ["userapi.cli.proxy"] = "lua/userapi/cli/proxy.lua",
    ["userapi.cli.records"] = "lua/userapi/cli/records.lua",
    ["userapi.cli.request"] = "lua/userapi/cli/request.lua",
    ["userapi.cli.review"] = "lua/userapi/cli/review.lua",
    ["userapi.cli.rotate"] = "lua/userapi/cli/rotate.lua",
    ["userapi.cli.streams"] = "lua/userapi/cli/streams.lua",
    ["userapi.cli.usage"] = "lua/userapi/cli/usage.lua",
    ["userapi.config"] = "lua/userapi/config.lua",
    ["userapi.format"] = "lua/userapi/format.lua",
    ["userapi.transport.record"] = "lua/userapi/transport/record.lua",
    ["userapi.transport"] = "lua/userapi/transport/init.lua",
    ["userapi.transport.curl"] = "lua/userapi/transport/curl.lua",
    ["userapi.transport.nginx"] = "lua/userapi/transport/nginx.lua",
    ["userapi.transport.nginx_multi"] = "lua/userapi/transport/nginx_multi.lua",
    ["userapi.transport.http1"] = "lua/userapi/transport/http1.lua",
    ["userapi.transport.proxy"] = "lua/userapi/transport/proxy.lua",
    ["userapi.transport.request_head"] = "lua/userapi/transport/request_head.lua",
    ["userapi.vendors.opendatasoft"] = "lua/userapi/vendors/opendatasoft.lua",
    ["userapi.vendors.arthur"] = "lua/userapi/vendors/arthur.lua",
    ["userapi.vendors.kandji"] = "lua/userapi/vendors/kandji.lua",
    ["userapi.vendors.sigfox"] = "lua/userapi/vendors/sigfox.lua",
  },
  -- the userapi command (luarocks wraps it with the tree's package paths)
  install = { bin = { userapi = "bin/userapi" } },
}
