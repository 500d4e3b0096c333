require "rubygems/package_task"

# The source gem, pkg/middle_management-VERSION.gem: the Rust sources and
# extconf.rb, compiled on install where no platform gem fits. `rake gem`
# builds it too (after `native`, with the platform gem, as rake-compiler's
# `rake native gem` does).
Gem::PackageTask.new(GEMSPEC) { |package| package.need_tar = package.need_zip = false }

desc "Build the source gem (pkg/#{GEMSPEC.file_name})"
task build: "pkg/#{GEMSPEC.file_name}"
