std = "max"
unused_args = false
max_line_length = 120
read_globals = { "ngx", "newproxy" }
files["spec"] = { std = "+busted" }
exclude_files = { "build" }
files["sim"] = { max_line_length = 160 }
-- nginx handlers set ngx.status and ngx.header
files["spec/nginx"] = { globals = { "ngx" } }
files["examples/nginx"] = { globals = { "ngx" } }
files["bench/server.lua"] = { globals = { "ngx" } }
