# No example runs forever: one that is still running after its limit (60 s,
# or `time_limit: seconds` in its metadata) prints every thread's backtrace
# and fails, so a hang in code that is not ours to bound (a library, a
# native wait) still ends, with a place to look. The run goes on.
module ExampleTimeLimit
  DEFAULT = 60 # seconds
  HOOKS_GRACE = 15 # seconds the interrupted example's after hooks get before a second interrupt

  class Exceeded < Exception; end # rubocop:disable Lint/InheritException -- as Deadlines::Expired

  module_function

  def limit_of(example) = example.metadata.fetch(:time_limit, DEFAULT)

  def guard(example)
    limit = limit_of(example)
    runner = Thread.current
    watchdog = Thread.new do
      sleep limit
      ThreadDump.write(title: "#{example.full_description} (#{example.location}) is still running after #{limit} s")
      runner.raise(Exceeded, "the example ran past its #{limit} s limit (thread backtraces are on stderr)")
      sleep HOOKS_GRACE
      runner.raise(Exceeded, "the example's after hooks still ran #{HOOKS_GRACE} s after its time limit")
    end
    watchdog.name = "example-time-limit"
    yield
  ensure
    watchdog&.kill
    watchdog&.join(1)
  end
end

RSpec.configure do |config|
  config.around { |example| ExampleTimeLimit.guard(example) { example.run } }
end
