# `compile` and `native` without rake-compiler (rakelib/extension.rake
# loads this where rake-compiler or rb_sys is not installed): the same
# products, for this machine's platform and Ruby.
require_relative "platform_gem"

desc "Build the native extension into lib/ (release profile, as users get it)"
task :compile do
  # One target directory for `cargo test` and the extension, so nothing is built twice.
  ENV["CARGO_TARGET_DIR"] ||= File.expand_path("target")
  Dir.chdir(CRATE) do
    ruby "extconf.rb"
    sh "make"
  end
  mkdir_p File.dirname(EXTENSION)
  # A new file renamed into place: a running process keeps the library it
  # loaded (overwriting it in place would crash it).
  cp File.join(CRATE, File.basename(EXTENSION)), "#{EXTENSION}.new"
  mv "#{EXTENSION}.new", EXTENSION
end

platform_gem = PlatformGem.new(GEMSPEC)
desc "Build the platform gem for this machine and Ruby (pkg/#{platform_gem.spec.file_name}): " \
     "the compiled library, nothing to build on install"
task native: :compile do
  puts "built #{platform_gem.build(library: EXTENSION, into: "pkg")}"
end

desc "Remove build products"
task :clean do
  rm_f EXTENSION
  Dir.chdir(CRATE) { sh "make clean" if File.exist?("Makefile") }
  rm_f File.join(CRATE, "Makefile")
end
