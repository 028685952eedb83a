--- JSON through lua-cjson, configured once for userapi: JSON null decodes to
-- `json.null` (cjson.null), which encodes back to null, so a value read from a
-- vendor can be sent back unchanged.
local cjson = require "cjson.safe"

local _M = { null = cjson.null }

local codec = cjson.new()
codec.encode_sparse_array(true)
codec.decode_max_depth(200)
codec.encode_max_depth(200)

_M.decode = codec.decode
_M.encode = codec.encode

return _M
