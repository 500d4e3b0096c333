# Loads the compiled Rust extension, which defines
# MiddleManagement::Internal::Native (private to the gem), after the plain
# values it crosses with (Internal::Bridge), which it checks as it loads.
#
# Precompiled gems ship one library per Ruby minor version
# (middle_management/3.1/middle_management.so); a gem compiled on install, and
# a checkout after `rake compile`, have the plain one.
require "middle_management/internal/bridge"

begin
  ruby_minor = RUBY_VERSION[/\A\d+\.\d+/]
  require "middle_management/#{ruby_minor}/middle_management"
rescue LoadError
  require "middle_management/middle_management"
end
