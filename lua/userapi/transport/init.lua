--- Picks a transport: the libcurl core everywhere for now; nginx cosockets
-- join in the OpenResty work.
local _M = {}

function _M.default()
  return require "userapi.transport.curl"
end

return _M
