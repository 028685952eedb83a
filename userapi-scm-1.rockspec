rockspec_format = "3.0"
package = "userapi"
version = "scm-1"
source = { url = "git+https://example.invalid/userapi.git" }
description = {
  summary = "User accounts on Opendatasoft, Arthur, Kandji and Sigfox from one Lua API",
  detailed = [[
    Every users operation of four vendor REST APIs as Lua functions, over a
    small libcurl core: connection reuse, concurrent requests, retries, paging.
  ]],
  license = "MIT",
}
dependencies = { "lua >= 5.1", "lua-cjson >= 2.1" }
external_dependencies = { CURL = { header = "curl/curl.h", library = "curl" } }
build = {
  type = "builtin",
  modules = {
    ["userapi.core"] = {
      sources = { "csrc/core.c", "csrc/session.c", "csrc/multi.c", "csrc/request.c", "csrc/response.c",
                  "csrc/errors.c", "csrc/pool.c", "csrc/buf.c", "csrc/url.c", "csrc/auth.c", "csrc/transfer.c" },
      libraries = { "curl" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
    },
    ["userapi"] = "lua/userapi/init.lua",
    ["userapi.client"] = "lua/userapi/client.lua",
    ["userapi.check"] = "lua/userapi/check.lua",
    ["userapi.vendor"] = "lua/userapi/vendor.lua",
    ["userapi.options"] = "lua/userapi/options.lua",
    ["userapi.errors"] = "lua/userapi/errors.lua",
    ["userapi.json"] = "lua/userapi/json.lua",
    ["userapi.csv"] = "lua/userapi/csv.lua",
    ["userapi.fetcher"] = "lua/userapi/fetcher.lua",
    ["userapi.oidc"] = "lua/userapi/oidc.lua",
    ["userapi.retry"] = "lua/userapi/retry.lua",
    ["userapi.paging"] = "lua/userapi/paging.lua",
    ["userapi.bulk"] = "lua/userapi/bulk.lua",
    ["userapi.stream"] = "lua/userapi/stream.lua",
    ["userapi.cli"] = "lua/userapi/cli.lua",
    ["userapi.cli.args"] = "lua/userapi/cli/args.lua",
    ["userapi.cli.help"] = "lua/userapi/cli/help.lua",
    ["userapi.cli.streams"] = "lua/userapi/cli/streams.lua",
    ["userapi.cli.usage"] = "lua/userapi/cli/usage.lua",
    ["userapi.config"] = "lua/userapi/config.lua",
    ["userapi.format"] = "lua/userapi/format.lua",
    ["userapi.transport.record"] = "lua/userapi/transport/record.lua",
    ["userapi.transport"] = "lua/userapi/transport/init.lua",
    ["userapi.transport.curl"] = "lua/userapi/transport/curl.lua",
    ["userapi.transport.nginx"] = "lua/userapi/transport/nginx.lua",
    ["userapi.vendors.opendatasoft"] = "lua/userapi/vendors/opendatasoft.lua",
    ["userapi.vendors.arthur"] = "lua/userapi/vendors/arthur.lua",
    ["userapi.vendors.kandji"] = "lua/userapi/vendors/kandji.lua",
    ["userapi.vendors.sigfox"] = "lua/userapi/vendors/sigfox.lua",
  },
  -- the userapi command (luarocks wraps it with the tree's package paths)
  install = { bin = { userapi = "bin/userapi" } },
}
