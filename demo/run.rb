# The README's step-by-step chart, for real: an app (this process) with
# Delayed Job on SQLite rotates 3 images and sends 105 emails; the local
# formation runs real Delayed::Worker processes at the quantities Middle
# Management sets. Exits non-zero if the workforce did not follow the work.
#
#   bin/demo [--max-workers 10] [--jobs-per-worker 1] [--throttle 1] [--grace 30]
$LOAD_PATH.unshift File.expand_path("../lib", __dir__), __dir__
require "optparse"
require "securerandom"
require "tmpdir"
require "database"
require "jobs"
require "chart"
require "middle_management/local_formation"

options = { max_workers: 10, jobs_per_worker: 1, throttle: 1.0, grace: 30, timeout: 170 }
OptionParser.new do |o|
  o.banner = "Usage: bin/demo [options]"
  o.on("--max-workers N", Integer, "MIDDLE_MANAGEMENT_MAX_WORKERS (default 10)") { |v| options[:max_workers] = v }
  o.on("--jobs-per-worker N", Integer, "MIDDLE_MANAGEMENT_JOBS_PER_WORKER (default 1)") { |v| options[:jobs_per_worker] = v }
  o.on("--throttle SECONDS", Float, "MIDDLE_MANAGEMENT_API_THROTTLE (default 1)") { |v| options[:throttle] = v }
  o.on("--grace SECONDS", Float, "SIGTERM to SIGKILL on scale-down (default 30, as Heroku)") { |v| options[:grace] = v }
end.parse!

IMAGE_SECONDS = [3, 6, 20].freeze # the third is still rotating when the emails go out
EMAILS = 105
EMAIL_SECONDS = 0.5

dir = Dir.mktmpdir("middle_management-demo")
database = File.join(dir, "jobs.sqlite3")
DemoDatabase.connect(database, create: true)
Delayed::Worker.max_run_time = 120
File.write(File.join(dir, "Procfile"), "worker: #{RbConfig.ruby} #{File.expand_path("worker.rb", __dir__)}\n")
log = File.open(File.join(dir, "demo.log"), "w").tap { |f| f.sync = true }

supervisor = MiddleManagement::LocalFormation::Supervisor.new(File.join(dir, "Procfile"), grace: options[:grace], output: log)
# The page at /middle_management beside the API: this process is the app, so
# it shows the app's decisions and the history in its SQLite store.
page = MiddleManagement::LocalFormation::LocalPage.new
heroku = MiddleManagement::LocalFormation::Server.new(app: "demo", token: SecureRandom.hex(16), supervisor: supervisor,
                                                      web: page)
changes = Queue.new
heroku.formation.on_change { |change| changes << change }
heroku.start
vars = {
  "HEROKU_APP" => heroku.app, "HEROKU_API_KEY" => heroku.token, "HEROKU_API_URL" => heroku.url,
  "MIN_WORKERS" => 0, "MAX_WORKERS" => options[:max_workers], "JOBS_PER_WORKER" => options[:jobs_per_worker],
  "API_THROTTLE" => options[:throttle], "COUNT_INTERVAL" => 2,
  # The demo's clock runs about ten times Heroku's (a throttle of 1 s for 10 s): so does its change budget.
  "CHANGES_PER_HOUR" => 600
}.to_h { |name, value| ["MIDDLE_MANAGEMENT_#{name}", value.to_s] }
supervisor.env = vars.merge("DEMO_DATABASE" => database)
ENV.update(vars)
require "middle_management"
MiddleManagement.configure { |c| c.logger = Logger.new(log) }
page.load!

chart = Chart.new
enqueued = Hash.new(0)
reported = Hash.new(0)
remaining = ->(queue) { Delayed::Job.where(queue: queue).count }
enqueue = lambda do |queue, job|
  Delayed::Job.enqueue(job, queue: queue)
  enqueued[queue] += 1
end
# What the workers finished since the last row, for the App action column.
report_progress = lambda do
  { "images" => ["image rotated", "images rotated"], "emails" => ["email sent", "emails sent"] }.each do |queue, (one, many)|
    finished = enqueued[queue] - remaining.call(queue) - reported[queue]
    next unless finished.positive?

    reported[queue] += finished
    chart.app("#{finished} #{finished == 1 ? one : many}")
  end
end
# Prints a row for each formation change so far.
print_changes = lambda do
  loop do
    change = changes.pop(true)
    next unless change.type == "worker" && change.from != change.to

    report_progress.call
    chart.row(Chart.action(change.from, change.to), change.to, supervisor.running("worker"))
  end
rescue ThreadError # no more changes (Ruby 3.1's Queue#pop has no timeout)
  nil
end
# Prints rows as the formation changes, until `until_done` or `seconds` pass.
follow = lambda do |seconds, &until_done|
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
  loop do
    print_changes.call
    break if until_done.call || Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

    sleep 0.1
  end
  print_changes.call
end

# What `rake middle_management:tune` says of this run: its history, written
# by the real workers' hooks, rebuilt and replayed through the grid (on the
# demo's compressed clock, so the settings it finds are the demo's, not an
# app's on Heroku). Said, never checked: the demo's verdict is the chart's.
def tune_line(dir, vars)
  require "middle_management/tuning"
  now_ms = Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
  _pool, result = MiddleManagement::Tuning.app(MiddleManagement.configuration, MiddleManagement.agent.store,
                                               now_ms: now_ms).first
  text = result.is_a?(Exception) ? result.message : "#{result.summary}\n#{result.advice}"
  settings = vars.reject { |name, _value| name.include?("HEROKU_") }.map { |name, value| "#{name}=#{value}" }
  command = [*settings, File.expand_path("../exe/middle_management", __dir__), "tune", "--database-url",
             "sqlite3:#{File.join(dir, "jobs.sqlite3")}"].join(" ")
  "\nTuned on this run's history, as rake middle_management:tune does (on the demo's compressed clock):\n#{text}\n" \
    "The whole table: #{command}"
rescue StandardError => e
  "\nTuning this run failed: #{e.class}: #{e.message}"
end

status = 1
begin
  puts "Middle Management demo: min 0, max #{options[:max_workers]} workers, #{options[:jobs_per_worker]} " \
       "job(s) per worker, throttle #{options[:throttle]} s; local formation at #{heroku.url}"
  puts "The page, while the demo runs: #{heroku.page_url}"
  chart.header
  chart.app("Boot up")
  chart.row("", 0, 0)

  chart.app("Rotate 3 images")
  IMAGE_SECONDS.each_with_index { |s, i| enqueue.call("images", DemoJobs::RotateImage.new(i + 1, s)) }
  # Until the last image is left and the formation has shrunk for the others
  # (to 1, or to the number of the dyno that still works it: Heroku stops the
  # highest-numbered dynos first), or every image is done.
  follow.call(60) do
    left = remaining.call("images")
    left.zero? || (left == 1 && heroku.quantity("worker") < IMAGE_SECONDS.size)
  end

  chart.app("Send #{EMAILS} emails")
  EMAILS.times { |i| enqueue.call("emails", DemoJobs::SendEmail.new(i + 1, EMAIL_SECONDS)) }
  follow.call(options[:timeout] - 30) do
    Delayed::Job.count.zero? && heroku.quantity("worker").zero? && supervisor.running("worker").zero?
  end

  expected_peak = [options[:max_workers], (1 + EMAILS + options[:jobs_per_worker] - 1) / options[:jobs_per_worker]].min
  checks = {
    "the workforce reached #{expected_peak} workers" => chart.peak == expected_peak,
    "every job was done (#{3 + EMAILS} jobs)" => Delayed::Job.count.zero?,
    "the workforce ended at 0" => heroku.quantity("worker").zero? && supervisor.running("worker").zero?
  }
  tuned = tune_line(dir, vars)
  MiddleManagement.reset!
  supervisor.stop_all
  pids = supervisor.pids
  checks["no worker process left running"] = pids.none? { |pid| Process.kill(0, pid) rescue false }
  puts
  checks.each { |what, ok| puts "#{ok ? "ok  " : "FAIL"} #{what}" }
  puts tuned
  puts "Worker and gem logs: #{log.path}"
  status = checks.values.all? ? 0 : 1
ensure
  MiddleManagement.reset! if defined?(MiddleManagement.reset!)
  supervisor.stop_all
  heroku.stop
end
exit status
