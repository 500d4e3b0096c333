require "rbconfig"
require "tmpdir"

# `MiddleManagement::Store.install` outside Rails (issue 23, item 9): with no
# argument it takes the loaded SQL job library's model (Delayed Job's job,
# else GoodJob's job, else Solid Queue's record class), and where none is
# loaded (Sidekiq or Resque alone, whose store is their Redis) it says so
# and what to pass, instead of `uninitialized constant Delayed`. Each app is
# a process of its own, with only its library loaded (this suite loads
# them all); GoodJob and Solid Queue, not installed here, are their
# ActiveRecord classes alone, which is all the install touches.
RSpec.describe "MiddleManagement::Store.install" do
  let(:lib) { File.expand_path("../lib", __dir__) }
  let(:database) { File.join(Dir.mktmpdir("middle_management-install"), "jobs.sqlite3") }

  # Runs `app` (Ruby loading a library), then Store.install with `argument`
  # (Ruby source, "" for none): what it printed, and its exit status.
  def install_in(app, argument = "")
    script = <<~RUBY
      $LOAD_PATH.unshift #{lib.inspect}
      #{app}
      require "middle_management"
      begin
        MiddleManagement::Store.install#{argument}
        puts "installed"
      rescue StandardError => e
        puts "\#{e.class}: \#{e.message}"
      end
    RUBY
    child = start_child({ "MIDDLE_MANAGEMENT_HEROKU_APP" => nil }, RbConfig.ruby, "-e", script)
    status = child.wait(timeout: 60)
    [child.output, status]
  end

  def active_record(model_source)
    <<~RUBY
      require "active_record"
      require "active_job"
      ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: #{database.inspect})
      ActiveRecord::Base.logger = nil
      #{model_source}
    RUBY
  end

  # The store's tables, as the install leaves them, in the app's database.
  def installed_tables
    model = Class.new(ActiveRecord::Base) { def self.name = "InstalledCheck" }
    model.establish_connection(adapter: "sqlite3", database: database)
    model.connection.tables & [MiddleManagement::Store::SQL::TABLE, MiddleManagement::Store::Heartbeats::TABLE]
  ensure
    model&.remove_connection
  end

  let(:both_tables) { [MiddleManagement::Store::SQL::TABLE, MiddleManagement::Store::Heartbeats::TABLE].sort }

  it "in a Sidekiq app, says its store needs no install and which argument would put one in a database" do
    output, status = install_in('require "sidekiq"')
    expect(status).to be_success
    expect(output).not_to include("uninitialized constant", "NameError")
    expect(output).to include("MiddleManagement::Error: ", "no SQL job library", "Sidekiq and Resque keep the store " \
                              "in their Redis", "MiddleManagement::Store.install(SomeActiveRecordModel)")
  end

  it "in a GoodJob app, installs in GoodJob's database" do
    output, = install_in(active_record(<<~RUBY))
      module GoodJob
        class Adapter; end
        class JobPerformer; end
        class Job < ActiveRecord::Base; self.table_name = "good_jobs"; end
      end
    RUBY
    expect(output).to include("installed")
    expect(installed_tables.sort).to eq(both_tables)
  end

  it "in a Solid Queue app, installs in its queue database" do
    output, = install_in(active_record(<<~RUBY))
      module SolidQueue
        class Record < ActiveRecord::Base; self.abstract_class = true; end
      end
    RUBY
    expect(output).to include("installed")
    expect(installed_tables.sort).to eq(both_tables)
  end

  it "in a Delayed Job app, installs in the jobs' database" do
    output, = install_in(active_record('require "delayed_job"; require "delayed_job_active_record"'))
    expect(output).to include("installed")
    expect(installed_tables.sort).to eq(both_tables)
  end

  it "refuses an argument that is not an ActiveRecord model, naming it" do
    output, = install_in('require "sidekiq"', "(Object)")
    expect(output).to include("MiddleManagement::Error: ", "(got Object)", "Store.install(SomeActiveRecordModel)")
  end
end
