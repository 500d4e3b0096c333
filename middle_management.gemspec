require_relative "lib/middle_management/version"

Gem::Specification.new do |spec|
  spec.name = "middle_management"
  spec.version = MiddleManagement::VERSION
  spec.authors = ["middle_management developers"]
  spec.summary = "Hires and fires Heroku worker dynos as your job queue grows and shrinks"
  spec.description = <<~TEXT
    Watches Delayed Job, Resque and Sidekiq queues and sets the Heroku worker
    formation through the Platform API: up as soon as work arrives, down as soon
    as it is done, never below the workers that are busy. The decisions and the
    throttled, background Heroku client are written in Rust.
  TEXT
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.0"

  repository = "https://github.com/middle-management/middle_management"
  spec.homepage = repository
  spec.metadata = {
    "homepage_uri" => repository,
    "source_code_uri" => repository,
    "changelog_uri" => "#{repository}/blob/main/CHANGELOG.md",
    "rubygems_mfa_required" => "true"
  }

  # Relative to this file, whoever loads it (rake, gem build, Bundler, a spec).
  spec.files = Dir.chdir(__dir__) do
    Dir[
      "lib/**/*.{rb,rake,tt}", "exe/*", "ext/**/*.{rs,toml,rb}", "Cargo.toml", "Cargo.lock",
      "README.md", "CHANGELOG.md", "LICENSE"
    ].reject { |f| f.start_with?("ext/middle_management/tests/") }
  end
  spec.bindir = "exe"
  spec.executables = ["middle_management"]
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/middle_management/extconf.rb"]

  # This is the source gem, compiled on install where no platform gem fits
  # (Rakefile: `rake build`; platform gems: `rake native`, and cross-compiled
  # ones from .github/workflows/release.yml). extconf.rb builds with rb_sys,
  # which can also install a Rust toolchain for the build. Platform gems drop
  # this dependency: they have nothing to build. Where rb_sys cannot be
  # installed (`gem install --ignore-dependencies`, an offline machine)
  # extconf.rb still builds with cargo directly.
  spec.add_dependency "rb_sys", "~> 0.9.128"
  # `middle_management local` serves Heroku's formation API with WEBrick,
  # which Ruby 3 no longer ships.
  spec.add_dependency "webrick", "~> 1.7"
  # The page (MiddleManagement::Web) is a Rack app; Rails apps have Rack already.
  spec.add_dependency "rack", ">= 2.0"
end
