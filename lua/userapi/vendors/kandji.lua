--- Kandji API v1, UsersApi: the operations as data.
local str = { type = "string" }

return {
  name = "kandji",
  default_base = function(o)
    if o.subdomain then
      local region = o.region or "us"
      assert(region == "us" or region == "eu", "kandji: region must be \"us\" or \"eu\"")
      return "https://" .. o.subdomain .. (region == "eu" and ".api.eu.kandji.io" or ".api.kandji.io")
    end
  end,
  credentials = { "token" },
  auth = function(o) return { scheme = "bearer", token = o.token } end,
  -- Kandji allows 10,000 requests an hour and 50 a second per tenant
  rate_limit = { per_second = 50, per_hour = 10000 },
  ops = {
    list_users = {
      method = "GET", path = "/api/v1/users", ok = 200,
      query = {
        email = str, id = str, integration_id = str, cursor = str,
        archived = { type = "flag" },
      },
    },
    get_user = { method = "GET", path = "/api/v1/users/{user_id}", ok = 200 },
    delete_user = { method = "DELETE", path = "/api/v1/users/{user_id}", ok = 204 },
  },
  paging = { op = "list_users", style = "cursor", items = "results" },
}
