require "fileutils"
require "rbconfig"
require "rubygems/package"
require "tmpdir"

# A platform gem (middle_management-VERSION-x86_64-linux.gem) for this
# machine's platform and Ruby minor, laid out as rake-compiler and rb-sys-dock
# lay out theirs: the compiled library under
# lib/middle_management/<ruby minor>/ (where lib/middle_management/internal/native.rb
# looks first), no extension to build, so neither a Rust toolchain nor rb_sys
# on install; the Rust sources and extconf.rb stay in the source gem.
#
#   PlatformGem.new(GEMSPEC).build(library: "lib/middle_management/middle_management.so", into: "pkg")
class PlatformGem
  attr_reader :platform, :ruby_minor

  def initialize(gemspec, platform: PlatformGem.local_platform, ruby_minor: RUBY_VERSION[/\A\d+\.\d+/])
    @gemspec = gemspec
    @platform = platform
    @ruby_minor = ruby_minor
  end

  # This machine's platform as platform gems name it: macOS without its
  # version (arm64-darwin, not arm64-darwin-23), the rest as RubyGems says
  # (x86_64-linux, x86_64-linux-musl).
  def self.local_platform
    local = Gem::Platform.local
    local.os == "darwin" ? Gem::Platform.new([local.cpu, local.os, nil]) : local
  end

  def library_path = "lib/middle_management/#{ruby_minor}/middle_management.#{RbConfig::CONFIG["DLEXT"]}"

  def spec
    @spec ||= @gemspec.dup.tap do |spec|
      spec.platform = platform
      # rake-compiler's bounds for a library built for one Ruby minor.
      spec.required_ruby_version = [">= #{ruby_minor}", "< #{ruby_minor.succ}.dev"]
      spec.extensions.clear
      spec.dependencies.reject! { |dependency| dependency.name == "rb_sys" }
      spec.files = spec.files.reject { |file| source_only?(file) } + [library_path]
    end
  end

  # Writes the gem into the directory `into`; returns its path.
  def build(library:, into:)
    Dir.mktmpdir("middle_management-platform-gem") do |stage|
      (spec.files - [library_path]).each { |file| copy_into(stage, file, file) }
      copy_into(stage, library, library_path)
      name = Dir.chdir(stage) { Gem::Package.build(spec) }
      FileUtils.mkdir_p(into)
      FileUtils.mv(File.join(stage, name), into)
      File.join(into, name)
    end
  end

  private

  def source_only?(file) = file.start_with?("ext/") || file.match?(/\ACargo\.(toml|lock)\z/)

  def copy_into(stage, source, path)
    destination = File.join(stage, path)
    FileUtils.mkdir_p(File.dirname(destination))
    FileUtils.cp(source, destination, preserve: true)
  end
end
