--- The old name of @{userapi.people} (the reference documented it): the same module.
-- @module userapi.state
return require "userapi.people"
