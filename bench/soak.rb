# A soak of the gem in its roughest weather, on PostgreSQL with the store:
# per run, one process with four threads enqueueing, a worker thread working
# jobs off, forks that enqueue and leave (by exit, and by exit! with work
# pending), GC.compact every 50 ms, the configuration restarted every
# 300 ms, and an exit with work pending. Counts the runs that crashed and
# the errors the gem raised or logged.
#
#   ruby bench/soak.rb        # RUNS=20 by default
require_relative "setup"
$LOAD_PATH.unshift File.expand_path("../spec/support", __dir__)
require "deadlines"
require "child_process"
require "postgres_server"
require "rbconfig"

RUNS = Integer(ENV.fetch("RUNS", "20"))
SECONDS = 3

abort "PostgreSQL is not installed (#{PostgresServer::BIN}, ruby-pg)" unless PostgresServer.available?

def soak_script(config)
  <<~RUBY
    $LOAD_PATH.unshift #{File.expand_path("../lib", __dir__).inspect}, #{File.expand_path("../demo", __dir__).inspect}
    require "database"
    ActiveRecord::Base.establish_connection(#{config.inspect})
    require "middle_management"
    $stdout.sync = true
    errors = Queue.new
    raising = ->(what) { ->(e) { errors << "\#{what}: \#{e.class}: \#{e.message}" } }
    MiddleManagement.configure { |c| c.logger = Logger.new($stdout, level: Logger::WARN) }
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + #{SECONDS}
    running = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline }
    threads = Array.new(4) do |i|
      Thread.new do
        MiddleManagement::Slacker.delay(queue: i.even? ? nil : "other").slack_for(0.01) while running.call && sleep(0.002)
      rescue StandardError => e
        raising.("enqueue").call(e)
      end
    end
    threads << Thread.new do
      Delayed::Worker.new(quiet: true).work_off(5) while running.call
    rescue StandardError => e
      raising.("work").call(e)
    end
    threads << Thread.new { (GC.compact; sleep 0.05) while running.call }
    threads << Thread.new do
      while running.call
        sleep 0.3
        MiddleManagement.configure { |c| c.max_workers = rand(1..10) }
      end
    rescue StandardError => e
      raising.("configure").call(e)
    end
    children = 4.times.map do |i|
      sleep 0.5
      fork do
        ActiveRecord::Base.establish_connection(#{config.inspect})
        5.times { MiddleManagement::Slacker.delay.slack_for(0) }
        i.even? ? exit!(0) : exit(0) # exit! leaves work undecided; exit flushes it
      end
    end
    children.each { |pid| Process.wait(pid); errors << "child \#{pid}: \#{$?}" unless $?.success? }
    threads.each(&:join)
    puts "errors raised: \#{errors.size}"
    puts errors.size.times.map { errors.pop }
    20.times { MiddleManagement::Slacker.delay.slack_for(0) } # and leave with them undecided
  RUBY
end

postgres = PostgresServer.start
begin
  model = Class.new(ActiveRecord::Base) do
    self.abstract_class = true
    define_singleton_method(:name) { "SoakDatabase" }
  end
  model.establish_connection(postgres.config)
  DemoDatabase.define_tables(model)
  heroku = Bench.heroku
  # What soaks is the store and the counts: no change budget holds the calls back.
  env = Bench.vars(heroku, "API_THROTTLE" => 0.5, "JOBS_PER_WORKER" => 5, "CHANGES_PER_HOUR" => 0)
  results = RUNS.times.map do |run|
    child = ChildProcess.new(env, RbConfig.ruby, "-e", soak_script(postgres.config(pool: 10)))
    status = child.wait("soak run #{run + 1}", timeout: 60)
    output = child.output
    child.stop
    raised = output[/errors raised: (\d+)/, 1]&.to_i
    logged = output.lines.grep(/\[middle_management\]/).reject { |line| line.include?("exiting before Heroku") }
    { ok: status&.success? && raised&.zero? && logged.empty?, status: status, raised: raised, logged: logged,
      output: output }
  end
  failed = results.reject { |r| r[:ok] }
  failed.first(3).each { |r| warn "a failed run (#{r[:status]}):\n#{r[:output].lines.last(20).join}" }
  calls = heroku.patches.count { |patch| patch.status == 200 }
  puts format("soak: %d runs of %d s on PostgreSQL (threads enqueueing, forks, GC.compact, restarts, exits with " \
              "work pending): %d crashed, %d with errors raised by the gem, %d with gem errors logged; " \
              "%d formation calls; %s",
              RUNS, SECONDS, results.count { |r| !r[:status]&.success? }, results.count { |r| r[:raised].to_i.positive? },
              results.count { |r| r[:logged].any? }, calls, failed.empty? ? "met" : "MISSED")
ensure
  heroku&.stop
  postgres.stop
end
