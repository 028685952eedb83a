--- The built-in vendors: `require "userapi"` registers each
-- (@{userapi.register}) from its file `userapi/vendors/<name>.lua`.
-- @module userapi.vendors
return { "opendatasoft", "arthur", "kandji", "sigfox" }
