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

  spec.files = Dir[
    "lib/**/*.{rb,rake,tt}", "exe/*", "ext/**/*.{rs,toml,rb}", "Cargo.toml", "Cargo.lock",
    "README.md", "LICENSE"
  ].reject { |f| f.start_with?("ext/middle_management/tests/") }
  spec.bindir = "exe"
  spec.executables = ["middle_management"]
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/middle_management/extconf.rb"]

  # extconf.rb builds with rb_sys when it is installed and with cargo directly
  # when it is not. As a runtime dependency it would make the installed gem
  # unloadable wherever RubyGems cannot fetch it (`gem install
  # --ignore-dependencies`, offline machines), so it is a development one.
  spec.add_development_dependency "rb_sys", "~> 0.9"
end
