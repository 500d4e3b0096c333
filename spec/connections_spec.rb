require "json"
require "rbconfig"

# The gem borrows the app's database connections for the moment of a query
# and gives them straight back: after decisions, and while idle, the only
# connection checked out of the app's pool is the app's own; and where the
# app holds the pool's one connection, the decision waits (and is tried
# again) while the app's thread never waits on the gem. In a process of its
# own, with ActiveRecord::Base on PostgreSQL, as an app has it.
RSpec.describe "database connections borrowed, never held" do
  include_context "a postgres jobs database"

  let(:token) { "hk-connections-token-5c1a" }
  let(:heroku) { FakeHeroku.start(app: "example", token: token, formation: { "web" => 1, "worker" => 0 }) }

  before { %w[delayed_jobs middle_management_pools].each { |table| @model.connection.execute("DELETE FROM #{table}") } }

  # Runs `code` after booting the gem, and returns what it printed last as JSON.
  def run_app(code, pool:)
    env = { "HEROKU_APP" => "example", "HEROKU_API_KEY" => token, "HEROKU_API_URL" => heroku.url, "MAX_WORKERS" => 10,
            "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 0 }
            .to_h { |key, value| ["MIDDLE_MANAGEMENT_#{key}", value.to_s] }
    script = <<~RUBY
      $LOAD_PATH.unshift #{File.expand_path("../lib", __dir__).inspect}
      require "json"
      require "active_record"
      require "delayed_job"
      require "delayed_job_active_record"
      ActiveRecord::Base.establish_connection(#{postgres_server.config(pool: pool).merge(checkout_timeout: 0.5).inspect})
      ActiveRecord::Base.logger = nil
      require "middle_management"
      MiddleManagement.configure { |c| c.logger = Logger.new($stderr) }
      Job = Struct.new(:n) { def perform = nil }
      #{code}
    RUBY
    output, status = capture_within(env, RbConfig.ruby, "-e", script, timeout: 60)
    expect(status).to be_success, output
    JSON.parse(output.lines.grep(/\A\{/).last || "{}")
  end

  it "leaves no connection checked out by the gem after decisions and while idle" do
    result = run_app(<<~RUBY, pool: 5)
      ActiveRecord::Base.connection # the app's own, held by this thread
      3.times { |n| Delayed::Job.enqueue(Job.new(n)) }
      MiddleManagement.flush(5)
      4.times { |n| Delayed::Job.enqueue(Job.new(n)) }
      MiddleManagement.flush(5)
      sleep 1 # idle
      puts JSON.generate(stat: ActiveRecord::Base.connection_pool.stat, worker: MiddleManagement.status[:pools].first[:desired])
    RUBY
    expect(result["worker"]).to eq(7)
    expect(heroku.quantity("worker")).to eq(7)
    expect(result["stat"]).to include("busy" => 1) # the app's own
  end

  it "with the pool's one connection held by the app, decides once it is free and never holds the app up" do
    result = run_app(<<~RUBY, pool: 1)
      held_for = 2.0
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      ActiveRecord::Base.connection # the pool's only connection, held by the app's thread
      5.times { |n| Delayed::Job.enqueue(Job.new(n)) }
      enqueued_in = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
      sleep held_for # the gem's decision meanwhile waits for a connection, and fails
      ActiveRecord::Base.connection_pool.release_connection
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 20
      sleep 0.1 until MiddleManagement.status[:pools].first[:desired] == 5 || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      MiddleManagement.flush(5) # Heroku's answer recorded: the gem has nothing left to do
      puts JSON.generate(enqueued_in: enqueued_in, worker: MiddleManagement.status[:pools].first[:desired],
                         stat: ActiveRecord::Base.connection_pool.stat)
    RUBY
    expect(result["enqueued_in"]).to be < 1.0 # five inserts, not a wait on the gem's checkout
    expect(result["worker"]).to eq(5)
    expect(heroku.quantity("worker")).to eq(5)
    expect(result["stat"]).to include("busy" => 0)
  end
end
