require "json"
require "rbconfig"

# Heroku stops the highest-numbered dynos first, busy or not. With real
# Delayed Job workers under the local formation (SIGKILL 1.5 s after
# SIGTERM), on PostgreSQL with the store installed: no scale-down may stop a
# dyno that works a job, and the formation must still shrink as soon as the
# dynos at the top are idle.
RSpec.describe "busy dynos" do
  include_context "a postgres server"

  let(:lib) { File.expand_path("../lib", __dir__) }
  let(:token) { "hk-busy-dynos-token-81c2" }
  let(:dir) { Dir.mktmpdir("middle_management-busy").tap { |d| on_release { FileUtils.remove_entry(d) } } }
  let(:runs_log) { File.join(dir, "runs.log") }
  let(:vars) do
    { "HEROKU_APP" => LocalApp::APP, "HEROKU_API_KEY" => token, "MIN_WORKERS" => 0, "MAX_WORKERS" => 4,
      "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 1, "SCALE_DOWN_DELAY" => 0, "COUNT_INTERVAL" => 2 }
  end
  let(:setup) do
    <<~RUBY
      $LOAD_PATH.unshift #{lib.inspect}
      require "active_record"
      require "delayed_job"
      require "delayed_job_active_record"
      ActiveRecord::Base.establish_connection(#{postgres_server.config(pool: 5).inspect})
      ActiveRecord::Base.logger = nil
      require "middle_management"
      # Long on the dynos named, short elsewhere; each run is logged with its dyno.
      TimedJob = Struct.new(:id, :long_on, :log) do
        def perform
          dyno = ENV.fetch("DYNO")
          File.open(log, "a") { |f| f.puts ["start", id, dyno, Time.now.to_f].join(" ") }
          sleep(long_on.include?(dyno) ? 9 : 1.5)
          File.open(log, "a") { |f| f.puts ["end", id, dyno, Time.now.to_f].join(" ") }
        end
      end
    RUBY
  end

  before(:context) do
    next unless postgres_server

    @model = Class.new(ActiveRecord::Base) do
      self.abstract_class = true
      define_singleton_method(:name) { "BusyDynosSpecPostgres" }
    end
    @model.establish_connection(postgres_server.config)
    DemoDatabase.define_tables(@model)
  end
  after(:context) { @model&.remove_connection }

  before { %w[delayed_jobs middle_management_pools].each { |table| @model.connection.execute("DELETE FROM #{table}") } } # a new app

  def run_jobs(count, long_on:)
    worker = File.join(dir, "worker.rb")
    File.write(worker, "#{setup}\nDelayed::Worker.logger = Logger.new(nil)\nDelayed::Worker.new(sleep_delay: 0.2).start\n")
    heroku, supervisor = start_formation(dir, "#{RbConfig.ruby} #{worker}", vars, token: token, grace: 1.5)
    enqueuer = start_child(app_env(heroku, vars), RbConfig.ruby, "-e", <<~RUBY)
      #{setup}
      #{count}.times { |i| Delayed::Job.enqueue(TimedJob.new(i, #{long_on.inspect}, #{runs_log.inspect})) }
    RUBY
    expect(enqueuer.wait("the enqueuer to exit", timeout: 30)).to be_success, enqueuer.output
    [heroku, supervisor]
  end

  # [job id, dyno, started, ended or nil], from the jobs' own log.
  def runs
    lines = File.exist?(runs_log) ? File.readlines(runs_log).map(&:split) : []
    lines.select { |event, *| event == "start" }.map do |_, id, dyno, started|
      ended = lines.find { |event, other, on| event == "end" && other == id && on == dyno }
      [id, dyno, started.to_f, ended && ended[3].to_f]
    end
  end

  # [time, quantity] of each formation change Heroku accepted.
  def changes(heroku)
    heroku.patches.select { |patch| patch.status == 200 }.map { |patch| [patch.at.to_f, JSON.parse(patch.body)["quantity"]] }
  end

  def expect_all_done(heroku, supervisor, count)
    await("every job done and the formation back at 0", timeout: 60,
          saw: -> { "runs #{runs.map { |id, dyno, _, ended| "#{id}@#{dyno}#{"…" unless ended}" }}, " \
                    "formation #{changes(heroku).map(&:last)}\n#{formation_log(dir).lines.last(20).join}" }) do
      runs.count { |*, ended| ended } >= count && @model.connection.select_value("SELECT COUNT(*) FROM delayed_jobs").to_i.zero? &&
        heroku.quantity("worker").zero?
    end
    await("the workers to stop", timeout: 15) { supervisor.running("worker").zero? }
    expect(runs.map(&:first).sort).to eq((0...count).map(&:to_s).sort), "each job ran once, to its end"
    expect(formation_log(dir)).not_to include("SIGKILL")
  end

  # No formation below a dyno's number while it worked a job.
  def expect_no_busy_dyno_stopped(heroku)
    runs.each do |id, dyno, started, ended|
      number = Integer(dyno[/\d+\z/])
      cut = changes(heroku).find { |at, quantity| at > started && at < ended && quantity < number }
      expect(cut).to be_nil, "job #{id} ran on #{dyno} from #{started} to #{ended}; the formation went to #{cut&.last}"
    end
  end

  it "keeps the dynos that work long jobs, and shrinks once they are done", time_limit: 90 do
    heroku, supervisor = run_jobs(8, long_on: %w[worker.3 worker.4])
    expect_all_done(heroku, supervisor, 8)
    expect_no_busy_dyno_stopped(heroku)
    expect(runs.map { |_, dyno, *| dyno }).to include("worker.4"), "the scenario needs a long job on the top dyno"
  end

  it "drops to the one dyno that works a long job as soon as the others are idle", time_limit: 90 do
    heroku, supervisor = run_jobs(4, long_on: %w[worker.1])
    long = -> { runs.find { |_, dyno, *| dyno == "worker.1" } }
    await("the long job to start on worker.1", timeout: 30, saw: -> { "#{runs}\n#{formation_log(dir)}" }) { long.call }
    await("the formation to drop to 1 while worker.1 works", timeout: 15, saw: -> { changes(heroku) }) do
      heroku.quantity("worker") == 1
    end
    expect(long.call.last).to be_nil, "the long job still runs when the formation is at 1"
    expect_all_done(heroku, supervisor, 4)
    expect_no_busy_dyno_stopped(heroku)
  end
end
