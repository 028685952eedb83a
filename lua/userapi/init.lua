--- userapi: the users operations of Opendatasoft, Arthur, Kandji and Sigfox
-- as Lua functions.
--
-- One client per vendor, made by the constructors below. Each client has one
-- method per operation of its vendor (documented in
-- @{userapi.vendors.opendatasoft}, @{userapi.vendors.arthur},
-- @{userapi.vendors.kandji} and @{userapi.vendors.sigfox}) and the generic
-- methods of @{userapi.client.Client} (`call`, `build`, `pages`, `each_user`,
-- `bulk`, `each_export_row`, `close`).
--
-- Calling convention: path parameters first, in URL order, then one table:
-- the JSON body for operations that take one, otherwise the optional query
-- parameters. Success returns the decoded JSON (`true` for an empty answer);
-- failure returns `nil` and a @{userapi.errors.Error}; input refused before
-- sending raises `bad argument #N to 'op' (param: why)`.
-- @module userapi
-- @usage
-- local userapi = require "userapi"
-- local kandji = userapi.kandji{ subdomain = "acme", token = os.getenv("KANDJI_TOKEN") }
-- local page = assert(kandji:list_users{ archived = false })
local client = require "userapi.client"
local json = require "userapi.json"
local errors = require "userapi.errors"
local vendors = require "userapi.vendor"

local _M = {
  _VERSION = client._VERSION,
  --- JSON null as userapi decodes and encodes it (cjson.null).
  null = json.null,
  --- The compiled vendor tables (@{userapi.vendor.compile}), by vendor name.
  vendors = {},
}

--- An Opendatasoft client (Automation API v1.0).
-- Its operations: @{userapi.vendors.opendatasoft} (`get_users`, `get_user`,
-- `update_user`, `delete_user`, `invite_users`, `provision_users`,
-- `users_export`); walks `get_users` with `each_user`, streams `users_export`
-- with `each_export_row`.
-- @function opendatasoft
-- @tparam table opts the @{userapi.options.options} and:
-- @tparam string opts.domain the domain, `"data.example.org"` (or `base_url`)
-- @tparam string opts.apikey the API key
-- @tparam[opt="header"] string opts.apikey_in `"header"` (`Authorization: Apikey KEY`)
-- or `"query"` (`?apikey=KEY`)
-- @treturn userapi.client.Client the client
-- @raise when the options are incomplete or of the wrong type:
-- `userapi.opendatasoft: credentials missing (apikey)`,
-- `userapi.opendatasoft: base_url (or the vendor's host options) required`
-- @usage local ods = userapi.opendatasoft{ domain = "data.example.org", apikey = os.getenv("ODS_APIKEY") }
-- local u, err = ods:get_user("louise.data")

--- An Arthur client (platform API, UsersV1).
-- Its operations: @{userapi.vendors.arthur} (`get_users_me`,
-- `accept_my_invites`, `get_organization_users`, `post_organization_user`,
-- `patch_user`, `delete_user`, `post_organization_service_account`,
-- `patch_service_account_user`, `post_organization_user_invite`,
-- `post_user_creds`); walks `get_organization_users` with `each_user`.
-- Give one of `access_token`, `token` or `client_id` + `client_secret`.
-- @function arthur
-- @tparam table opts the @{userapi.options.options} and:
-- @tparam[opt] string opts.access_token a bearer token
-- @tparam[opt] function opts.token returns a token and its lifetime in seconds,
-- called again before it expires and after a 401
-- @tparam[opt] string opts.client_id with `client_secret`: the OIDC
-- client-credentials grant (discovered from the base URL)
-- @tparam[opt] string opts.client_secret
-- @tparam[opt="https://platform.arthur.ai"] string opts.base_url
-- @treturn userapi.client.Client the client
-- @raise `userapi.arthur: access_token, token or client_id + client_secret required`
-- @usage local arthur = userapi.arthur{ client_id = ID, client_secret = SECRET }
-- for u in arthur:each_user{ user_types = { "service_account" } } do print(u.id, u.first_name) end

--- A Kandji client (API v1).
-- Its operations: @{userapi.vendors.kandji} (`list_users`, `get_user`,
-- `delete_user`); walks `list_users` with `each_user`. Stays under Kandji's
-- rate limit (50/s, 10,000/h) unless `rate_limit` says otherwise.
-- @function kandji
-- @tparam table opts the @{userapi.options.options} and:
-- @tparam string opts.subdomain the tenant, `"acme"` (or `base_url`)
-- @tparam[opt="us"] string opts.region `"us"` or `"eu"`
-- @tparam string opts.token the API token
-- @treturn userapi.client.Client the client
-- @raise `userapi.kandji: credentials missing (token)`, or a region other than us and eu
-- @usage local kandji = userapi.kandji{ subdomain = "acme", region = "eu", token = os.getenv("KANDJI_TOKEN") }

--- A Sigfox client (API v2).
-- Its operations: @{userapi.vendors.sigfox} (`list_api_users`,
-- `create_api_user`, `get_api_user`, `update_api_user`, `delete_api_user`,
-- `add_profile_to_api_user`, `delete_profile_of_api_user`,
-- `renew_credential`); walks `list_api_users` with `each_user`.
-- @function sigfox
-- @tparam table opts the @{userapi.options.options} and:
-- @tparam string opts.login the API login
-- @tparam string opts.password the API password
-- @tparam[opt="https://api.sigfox.com/v2"] string opts.base_url
-- @treturn userapi.client.Client the client
-- @raise `userapi.sigfox: credentials missing (password)`
-- @usage local sigfox = userapi.sigfox{ login = API_LOGIN, password = API_PASSWORD }

-- the module's own fields: a vendor cannot take these names
local RESERVED = { _VERSION = true, null = true, vendors = true, register = true, is_error = true }

--- Makes a vendor a first-class citizen: checks and compiles its table
-- (@{userapi.vendor.compile}), files it under `userapi.vendors[name]` and adds
-- the constructor `userapi[name](opts)`. The four built-in vendors are
-- registered this way. Registering a name again replaces the vendor.
-- @tparam table vendor_table a vendor table (see `lua/userapi/vendors/*.lua`)
-- @treturn function the constructor
-- @raise `userapi: vendor 'x': ...` on a table with a wrong or unknown field
-- @usage local acme = userapi.register(require "my_vendor")
-- local c = acme{ api_key = KEY }   -- also userapi.my_vendor{ ... }
function _M.register(vendor_table)
  local vendor = vendors.compile(vendor_table)
  if RESERVED[vendor.name] then error("userapi: vendor name '" .. vendor.name .. "' is reserved", 2) end
  local function new(opts) return client.new(vendor, opts) end
  _M.vendors[vendor.name], _M[vendor.name] = vendor, new
  return new
end

for _, name in ipairs(require "userapi.vendors") do
  _M.register(require("userapi.vendors." .. name))
end

--- True when v is an error returned by userapi (a @{userapi.errors.Error}).
-- @function is_error
-- @param v any value
-- @treturn boolean
_M.is_error = errors.is

--- A person's accounts across vendors; see @{userapi.directory}.
-- @function directory
_M.directory = function(clients) return require("userapi.directory").new(clients) end

return _M
