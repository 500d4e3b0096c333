# A real (tiny) Rails application in a child process, booted the way
# `rails server` boots one: the gem must hook in by itself, take its settings
# from an initializer, and refuse bad settings during initialisation.
RSpec.describe "under Rails" do
  def boot_rails(env, initializer: "")
    script = <<~RUBY
      $LOAD_PATH.unshift #{File.expand_path("../lib", __dir__).inspect}, #{File.expand_path("support", __dir__).inspect}
      require "rails"
      require "delayed_job_database"
      require "middle_management" # as Bundler.require does, before the app is defined
      loaded_at_require = MiddleManagement.agent
      class App < Rails::Application
        config.eager_load = false
        config.logger = Logger.new($stdout)
        config.active_support.deprecation = :silence
        initializer("app.middle_management", after: :load_config_initializers) { #{initializer} }
      end
      DelayedJobDatabase.connect
      App.initialize!
      puts "agent at require: \#{loaded_at_require.inspect}"
      puts "backends: \#{MiddleManagement.agent.backends.inspect}"
      puts "max workers: \#{MiddleManagement.configuration.max_workers}"
      puts "logger is Rails.logger: \#{MiddleManagement.configuration.logger.equal?(Rails.logger)}"
      puts "watching before a request: \#{MiddleManagement.agent.watching?}"
      App.call(Rack::MockRequest.env_for("/"))
      puts "watching after a request: \#{MiddleManagement.agent.watching?}"
      Rails.application.load_tasks
      puts "tasks: \#{Rake::Task.tasks.map(&:name).grep(/middle_management/)}"
      puts "scale needs: \#{Rake::Task["middle_management:scale"].prerequisites}"
      puts "tune needs: \#{Rake::Task["middle_management:tune"].prerequisites}"
    RUBY
    env = env.transform_keys { |key| "MIDDLE_MANAGEMENT_#{key}" }.merge("MIDDLE_MANAGEMENT_DRY_RUN" => "true")
    capture_within(env, RbConfig.ruby, "-e", script, timeout: 30)
  end

  it "hooks Delayed Job in after initialisation, with Rails.logger and the initializer's settings" do
    output, status = boot_rails({ "HEROKU_APP" => "myapp", "MAX_WORKERS" => "4" },
                                initializer: "MiddleManagement.configure { |c| c.max_workers = 7 }")
    expect(status).to be_success, output
    expect(output).to include("agent at require: nil")
    expect(output).to include("backends: [MiddleManagement::Backends::DelayedJob]")
    expect(output).to include("max workers: 7")
    expect(output).to include("logger is Rails.logger: true")
  end

  it "knows a web server by its first request, and offers rake middle_management:scale and :tune" do
    output, status = boot_rails({ "HEROKU_APP" => "myapp" })
    expect(status).to be_success, output
    expect(output).to include("watching before a request: false", "watching after a request: true",
                              'tasks: ["middle_management:scale", "middle_management:tune"]', 'scale needs: ["environment"]',
                              'tune needs: ["environment"]')
  end

  it "refuses a bad setting during initialisation, naming the variable" do
    output, status = boot_rails({ "HEROKU_APP" => "myapp", "MAX_WORKERS" => "ten" })
    expect(status).not_to be_success
    expect(output).to include("MIDDLE_MANAGEMENT_MAX_WORKERS must be a whole number of 0 or more (got \"ten\")")
    expect(output).to include("MiddleManagement::ConfigurationError")
  end

  it "writes the store's migrations for the database named with --database (Rails 8's queue database)" do
    script = <<~RUBY
      $LOAD_PATH.unshift #{File.expand_path("../lib", __dir__).inspect}
      require "tmpdir"
      require "rails"
      require "active_record/railtie"
      require "rails/generators"
      require "generators/middle_management/install_generator"
      Dir.chdir(Dir.mktmpdir) do
        Class.new(Rails::Application) { config.eager_load = false; config.root = Dir.pwd }
        ActiveRecord::Base.configurations = { "development" => {
          "primary" => { "adapter" => "sqlite3", "database" => "primary.sqlite3" },
          "queue" => { "adapter" => "sqlite3", "database" => "queue.sqlite3", "migrations_paths" => "db/queue_migrate" }
        } }
        Rails::Generators.invoke("middle_management:install", ["--database", "queue"], destination_root: Dir.pwd)
        puts "written: \#{Dir["db/**/*.rb"].map { |path| File.join(File.dirname(path), File.basename(path).split("_", 2).last) }.sort}"
      end
    RUBY
    output, status = capture_within({}, RbConfig.ruby, "-e", script, timeout: 30)
    expect(status).to be_success, output
    expect(output).to include('written: ["db/queue_migrate/create_middle_management_history.rb", ' \
                              '"db/queue_migrate/create_middle_management_pools.rb"]')
  end
end
