require "middle_management/version"
require "middle_management/errors"
require "middle_management/native"

module MiddleManagement
  if Native.crate_version != VERSION
    raise Error, "the compiled extension is version #{Native.crate_version}, the gem #{VERSION}: recompile it (rake compile)"
  end
end
