# The native extension and the platform gems, one of two ways:
#
# - With rake-compiler and rb_sys (CI installs them through Bundler),
#   RbSys::ExtensionTask defines `compile`, `native`, `native:<platform>` and
#   the cross-compiling tasks that rb-sys-dock runs for
#   .github/workflows/release.yml (`rake native:<platform> gem`).
# - Without them (Debian packages neither), the tasks in
#   rakelib/hand_made_extension.rb: `compile` and `native` for this machine.
rake_compiler =
  begin
    require "rake/extensiontask"
    require "rb_sys/extensiontask"
    true
  rescue LoadError
    false
  end

if rake_compiler
  RbSys::ExtensionTask.new("middle_management", GEMSPEC) do |ext|
    ext.lib_dir = "lib/middle_management"
    # RbSys drops rb_sys and the Rust sources from the platform gems; the
    # plain Makefile's helper goes with them: they have nothing to build.
    ext.cross_compiling { |spec| spec.files.reject! { |file| file.start_with?("ext/") } }
  end
else
  require_relative "hand_made_extension"
end
