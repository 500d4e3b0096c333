# Builds the native extension.
#
# With the rb_sys gem (what `gem install` gets from RubyGems) the standard
# rb_sys/mkmf Makefile is used. Where rb_sys cannot be installed (Debian's
# packaged Ruby without RubyGems access) a plain Makefile runs cargo itself and
# installs the shared object the same way, as middle_management/middle_management.so.
require "mkmf"

begin
  require "rb_sys/mkmf"
  create_rust_makefile("middle_management/middle_management")
rescue LoadError
  require_relative "plain_makefile"
  PlainMakefile.write(File.expand_path(__dir__), "middle_management/middle_management")
end
