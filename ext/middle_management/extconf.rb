# Builds the native extension, as middle_management/middle_management.so.
#
# With the rb_sys gem (a dependency of the source gem, so `gem install` and
# Bundler bring it) the standard rb_sys/mkmf Makefile is used; rb_sys can also
# install a Rust toolchain for the build. Where rb_sys is not installed
# (Debian's packaged Ruby without RubyGems access, `gem install
# --ignore-dependencies`) a plain Makefile runs cargo itself. Without cargo,
# and without rb_sys to fetch it, the build stops here and says what to do
# instead, rather than failing later at "cargo: command not found".
require "mkmf"

TARGET = "middle_management/middle_management".freeze

def rb_sys_installed?
  require "rb_sys/mkmf"
  true
rescue LoadError
  false
end

# Both Makefiles run $(CARGO), cargo unless the environment says otherwise.
def cargo_found?
  !find_executable(ENV.fetch("CARGO", "cargo")).nil?
end

# rb_sys installs a toolchain when this is set to anything but "false".
def toolchain_install_requested?
  value = ENV["RB_SYS_FORCE_INSTALL_RUST_TOOLCHAIN"].to_s.strip
  !value.empty? && value != "false"
end

def stop_without_rust(rb_sys:)
  problem = "no Rust toolchain (cargo is not on the PATH)"
  if !rb_sys && toolchain_install_requested?
    problem += ", and RB_SYS_FORCE_INSTALL_RUST_TOOLCHAIN is set but only rb_sys acts on it, which is not installed"
  end
  abort <<~MESSAGE

    middle_management: cannot build the native extension: #{problem}.

    This is middle_management's source gem, which compiles Rust. Any of these works instead:

    1. Use a precompiled platform gem (x86_64-linux, aarch64-linux, x86_64-darwin, arm64-darwin): nothing
       to compile. Bundler picks it when your Gemfile.lock lists the platform; a lockfile made on a Mac
       lists only the Mac's, so for Heroku run
           bundle lock --add-platform x86_64-linux
       and commit Gemfile.lock.
    2. Let rb_sys install Rust for the build: keep the rb_sys gem installed (middle_management depends on it;
       `gem install --ignore-dependencies` leaves it out) and set RB_SYS_FORCE_INSTALL_RUST_TOOLCHAIN=true
       (on Heroku: heroku config:set RB_SYS_FORCE_INSTALL_RUST_TOOLCHAIN=true).
    3. Install Rust (https://rustup.rs) where the gem is built; on Heroku, add a Rust buildpack before the
       Ruby one (heroku buildpacks:add --index 1 https://github.com/emk/heroku-buildpack-rust, with
       RUST_SKIP_BUILD=1 in a RustConfig file).

    Building also needs libclang (libclang-dev on Debian and Ubuntu). See README.md, "Installing on Heroku".
  MESSAGE
end

if rb_sys_installed?
  create_rust_makefile(TARGET) do |config|
    # rb_sys installs Rust when asked to, and by itself when RubyGems runs the
    # build and finds no cargo.
    installs_rust = toolchain_install_requested? || (config.auto_install_rust_toolchain && config.rubygems_invoked?)
    stop_without_rust(rb_sys: true) unless cargo_found? || installs_rust
  end
else
  stop_without_rust(rb_sys: false) unless cargo_found?
  require_relative "plain_makefile"
  PlainMakefile.write(File.expand_path(__dir__), TARGET)
end
