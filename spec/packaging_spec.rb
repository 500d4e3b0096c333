require "fileutils"
require "rbconfig"
require "rubygems/package"
require "tmpdir"
require_relative "../rakelib/platform_gem"

# The gem as users install it, in fresh GEM_HOMEs and child processes: the
# platform gem (`rake native`) where there is no Rust at all, as on Heroku;
# the source gem (`rake build`) compiled on install; extconf.rb saying what
# to do when it cannot compile.
RSpec.describe "packaging" do
  let(:root) { File.expand_path("..", __dir__) }
  let(:scratch) { Dir.mktmpdir("middle_management-packaging").tap { |dir| on_release { FileUtils.remove_entry(dir) } } }
  let(:platform) { PlatformGem.local_platform.to_s }
  let(:ruby_minor) { RUBY_VERSION[/\A\d+\.\d+/] }
  let(:gem_script) do
    [RbConfig::CONFIG["ruby_install_name"].sub("ruby", "gem"), "gem"]
      .map { |name| File.join(RbConfig::CONFIG["bindir"], name) }.find { |path| File.file?(path) }
  end
  let(:token) { "hk-packaging-token-8c1f" }

  # This process's environment without what would lead a child to other
  # gems, another Ruby's libraries, this checkout's lib/, or Rust.
  LEADING_ELSEWHERE = /\A(BUNDLE_|BUNDLER_|GEM_|RUBYOPT\z|RUBYLIB\z|MIDDLE_MANAGEMENT_|
                          CARGO|RUSTUP_|RUSTC|LIBCLANG_|RB_SYS_|SOURCE_DATE_EPOCH\z)/x.freeze

  def clean_env(extra = {})
    ENV.keys.grep(LEADING_ELSEWHERE).to_h { |key| [key, nil] }.merge(extra)
  end

  # A PATH that holds ruby and gem and nothing else: no cargo, rustc or
  # rustup, no clang or llvm-config to find libclang with, no C compiler.
  def path_without_rust
    bin = File.join(scratch, "bin")
    FileUtils.mkdir_p(bin)
    File.symlink(RbConfig.ruby, File.join(bin, "ruby"))
    File.symlink(gem_script, File.join(bin, "gem"))
    bin
  end

  def rust_tools_on(path)
    path.split(File::PATH_SEPARATOR).product(%w[cargo rustc rustup clang llvm-config cc])
        .map { |dir, tool| File.join(dir, tool) }.select { |file| File.executable?(file) }
  end

  # Builds in this checkout share its target directory and take one lock, so
  # that two never run at once (cargo's own lock would wait without a deadline).
  def with_build_lock
    File.open("/tmp/mm-cargo.lock", File::CREAT | File::RDWR) do |lock|
      await("the build lock /tmp/mm-cargo.lock", timeout: 120) { lock.flock(File::LOCK_EX | File::LOCK_NB) }
      yield
    end
  end

  # The README's console example in an app on Delayed Job and SQLite.
  let(:slacker_app) do
    <<~'RUBY'
      require "active_record"
      require "delayed_job"
      require "delayed_job_active_record"
      ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: ARGV.fetch(0))
      ActiveRecord::Base.logger = nil
      ActiveRecord::Migration.verbose = false
      ActiveRecord::Schema.define do
        create_table :delayed_jobs do |t|
          t.integer :priority, default: 0, null: false
          t.integer :attempts, default: 0, null: false
          t.text :handler, null: false
          t.text :last_error
          t.datetime :run_at, :locked_at, :failed_at
          t.string :locked_by, :queue
          t.timestamps null: true
        end
      end
      require "middle_management"
      3.times { MiddleManagement::Slacker.delay.slack_for(0) }
      abort "no decision sent within 10 s: #{MiddleManagement.status}" unless MiddleManagement.flush(10)
      puts $LOADED_FEATURES.grep(/middle_management\.so\z/)
    RUBY
  end

  it "installs the platform gem with `gem install --local` where there is no Rust, and a Slacker job scales Heroku" do
    # The gem `rake native` makes, from the library this run compiled (bin/test and `rake spec` compile first).
    script = "puts PlatformGem.new(Gem::Specification.load('middle_management.gemspec')).build(library: ARGV[0], into: ARGV[1])"
    output, status = capture_within(clean_env, RbConfig.ruby, "-r./rakelib/platform_gem", "-e", script,
                                    File.join(root, "lib/middle_management/middle_management.#{RbConfig::CONFIG["DLEXT"]}"),
                                    File.join(scratch, "pkg"), chdir: root, timeout: 30)
    expect(status).to be_success, output
    gem = output.lines.last.strip
    expect(File.basename(gem)).to eq("middle_management-#{MiddleManagement::VERSION}-#{platform}.gem")

    bin = path_without_rust
    expect(rust_tools_on(bin)).to be_empty
    home = File.join(scratch, "gem_home")
    # Gems it depends on (webrick, rack) and the app's (Delayed Job) come from this machine's gem path.
    env = clean_env("PATH" => bin, "GEM_HOME" => home, "GEM_PATH" => [home, *Gem.path].join(File::PATH_SEPARATOR))
    output, status = capture_within(env, File.join(bin, "gem"), "install", "--local", "--no-document", gem, timeout: 60)
    expect(status).to be_success, output
    expect(output).not_to include("Building native extensions")
    installed = Gem::Specification.load(File.join(home, "specifications", File.basename(gem, ".gem") + ".gemspec"))
    expect(installed.extensions).to be_empty
    expect(installed.runtime_dependencies.map(&:name)).to contain_exactly("webrick", "rack") # the local formation, the page

    heroku = FakeHeroku.start(app: "example", token: token, formation: { "worker" => 0 })
    app_env = { "HEROKU_APP" => "example", "HEROKU_API_KEY" => token, "HEROKU_API_URL" => heroku.url,
                "MAX_WORKERS" => "10", "JOBS_PER_WORKER" => "1", "API_THROTTLE" => "0", "COUNT_INTERVAL" => "0" }
    env = env.merge(app_env.transform_keys { |name| "MIDDLE_MANAGEMENT_#{name}" })
    output, status = capture_within(env, File.join(bin, "ruby"), "-e", slacker_app, File.join(scratch, "jobs.sqlite3"),
                                    chdir: scratch, timeout: 30)
    expect(status).to be_success, output
    expect(output).to include(File.join(home, "gems", File.basename(gem, ".gem"), "lib/middle_management",
                                        ruby_minor, "middle_management.so"))
    expect(heroku.quantity("worker")).to eq(3)
  end

  it "compiles the source gem on install where cargo is present, and loads it", time_limit: 300 do
    gem = File.join(scratch, "middle_management-#{MiddleManagement::VERSION}.gem")
    output, status = capture_within(clean_env, RbConfig.ruby, gem_script, "build", "middle_management.gemspec",
                                    "--output", gem, chdir: root, timeout: 30)
    expect(status).to be_success, output
    spec = Gem::Package.new(gem).spec
    expect(spec.extensions).to eq(["ext/middle_management/extconf.rb"])
    expect(spec.runtime_dependencies.map(&:name)).to contain_exactly("rack", "rb_sys", "webrick")

    # rb_sys, a dependency of the source gem, cannot be installed here (no
    # RubyGems access; Debian does not package it), so it is installed
    # without its dependencies and extconf.rb takes its other way, the plain
    # Makefile that runs cargo. GEM_PATH is the fresh GEM_HOME alone so that
    # this holds wherever rb_sys is installed, too. CARGO_TARGET_DIR is this
    # checkout's, so cargo rebuilds only the crate, not its dependencies.
    home = File.join(scratch, "gem_home")
    env = clean_env("GEM_HOME" => home, "GEM_PATH" => home, "CARGO_TARGET_DIR" => File.join(root, "target"))
    output, status = with_build_lock do
      capture_within(env, RbConfig.ruby, gem_script, "install", "--local", "--ignore-dependencies", "--no-document", gem,
                     timeout: 150)
    end
    expect(status).to be_success, output
    build_log = File.read(Dir[File.join(home, "extensions", "**", "gem_make.out")].first)
    expect(build_log).to include("cargo build --release --locked", "Finished `release` profile")

    # Activating the gem would ask for rb_sys, which is missing, so the
    # child loads it from its lib/, where RubyGems also put the library.
    gem_lib = File.join(home, "gems", "middle_management-#{MiddleManagement::VERSION}", "lib")
    script = 'require "middle_management"; puts MiddleManagement::Internal::Native.crate_version, $LOADED_FEATURES.grep(/\.so\z/)'
    output, status = capture_within(env, RbConfig.ruby, "-I", gem_lib, "-e", script, timeout: 30)
    expect(status).to be_success, output
    expect(output.lines.map(&:strip))
      .to include(MiddleManagement::VERSION, File.join(gem_lib, "middle_management", "middle_management.so"))
  end

  describe "extconf.rb where there is no Rust toolchain" do
    # No gems at all: rb_sys, wherever it is installed, is out of reach too.
    def extconf(extra_env = {})
      bin = path_without_rust
      build = File.join(scratch, "build").tap { |dir| FileUtils.mkdir_p(dir) }
      env = clean_env("PATH" => bin, "GEM_HOME" => build, "GEM_PATH" => build).merge(extra_env)
      output, status = capture_within(env, File.join(bin, "ruby"), File.join(root, "ext/middle_management/extconf.rb"),
                                      chdir: build, timeout: 30)
      [output, status, File.exist?(File.join(build, "Makefile"))]
    end

    it "stops before writing a Makefile and says what to do instead" do
      output, status, makefile = extconf
      expect(status.exitstatus).to eq(1)
      expect(makefile).to be(false)
      expect(output).to include("cannot build the native extension: no Rust toolchain (cargo is not on the PATH)",
                                "bundle lock --add-platform x86_64-linux", "RB_SYS_FORCE_INSTALL_RUST_TOOLCHAIN=true",
                                "Rust buildpack")
      expect(output).not_to include("command not found")
    end

    it "says that RB_SYS_FORCE_INSTALL_RUST_TOOLCHAIN needs rb_sys" do
      output, status, makefile = extconf("RB_SYS_FORCE_INSTALL_RUST_TOOLCHAIN" => "true")
      expect([status.exitstatus, makefile]).to eq([1, false])
      expect(output).to include("RB_SYS_FORCE_INSTALL_RUST_TOOLCHAIN is set but only rb_sys acts on it, which is not installed")
    end
  end

  it "names WEBrick when `middle_management local` cannot load it" do
    # A Ruby that finds no webrick: gems off, and no load path entry that holds it.
    script = <<~RUBY
      $LOAD_PATH.reject! { |dir| File.exist?(File.join(dir, "webrick.rb")) }
      $LOAD_PATH.unshift #{File.join(root, "lib").inspect}
      require "middle_management/local_formation"
    RUBY
    output, status = capture_within(clean_env, RbConfig.ruby, "--disable-gems", "-e", script, timeout: 30)
    expect(status).not_to be_success
    expect(output).to include("LoadError", "needs WEBrick", 'add `gem "webrick"` to your Gemfile')
  end
end
