--- userapi: the users operations of Opendatasoft, Arthur, Kandji and Sigfox
-- as Lua functions.
-- @module userapi
-- @usage
-- local userapi = require "userapi"
-- local kandji = userapi.kandji{ subdomain = "acme", token = os.getenv("KANDJI_TOKEN") }
-- local page = assert(kandji:list_users{ archived = false })
local client = require "userapi.client"
local json = require "userapi.json"
local errors = require "userapi.errors"

local _M = {
  _VERSION = client._VERSION,
  --- JSON null as userapi decodes and encodes it (cjson.null).
  null = json.null,
  --- The operation tables, by vendor name.
  vendors = {},
}

for _, name in ipairs({ "opendatasoft", "arthur", "kandji", "sigfox" }) do
  local vendor = require("userapi.vendors." .. name)
  _M.vendors[name] = vendor
  _M[name] = function(opts) return client.new(vendor, opts) end
end

--- True when v is an error returned by userapi.
_M.is_error = errors.is

return _M
