require "tempfile"

# Every wait in the specs has a deadline. When one passes, the example fails
# with what it waited for and what it saw, and what it started is released:
#
#   started = pop_within(queue, "the job to start", timeout: 5)
#   await("10 workers started", saw: -> { "#{started.size} of 10 started" }) { started.size == 10 }
#   output, status = capture_within(env, RbConfig.ruby, "-e", script, timeout: 30)
#   on_release { gate << :go }     # after the example, pass or fail
#
# (Ruby 3.1's Queue#pop has no timeout, so queues are polled.)
module Deadlines
  # A wait ran out. Not a StandardError, so no `rescue => e` in the code
  # under test or in a helper swallows it.
  class Expired < Exception; end # rubocop:disable Lint/InheritException

  DEFAULT_TIMEOUT = 10 # seconds
  POLL = 0.02

  module_function

  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)

  # Yields until the block returns something truthy, and returns it.
  # `saw` (a callable) describes the state when the deadline passes.
  def await(what, timeout: DEFAULT_TIMEOUT, saw: nil, interval: POLL)
    deadline = monotonic + timeout
    loop do
      result = yield
      return result if result

      expired!(what, timeout, saw&.call) if monotonic > deadline
      sleep interval
    end
  end

  def pop_within(queue, what, timeout: DEFAULT_TIMEOUT)
    popped = nil
    await(what, timeout: timeout, saw: -> { "#{queue.size} in the queue" }) do
      popped = [queue.pop(true)]
    rescue ThreadError # empty
      nil
    end
    popped.first
  end

  # The thread's value; its exception, if it raised.
  def join_within(thread, what, timeout: DEFAULT_TIMEOUT)
    return thread.value if thread.join(timeout)

    expired!(what, timeout, "the thread is #{thread.status}, at #{thread.backtrace&.first(3)&.join(" < ")}")
  end

  # Reaps a child process. If it has not exited by the deadline, its process
  # group is killed (children run in groups of their own, `pgroup: true`)
  # before the example fails.
  def exit_status_within(pid, what, timeout: DEFAULT_TIMEOUT, output: nil)
    await(what, timeout: timeout, saw: -> { "it was still running, and is killed#{tail(output)}" }) do
      Process.wait2(pid, Process::WNOHANG)&.last
    end
  rescue Expired
    kill_and_reap(pid)
    raise
  rescue Errno::ECHILD
    nil # reaped elsewhere
  end

  # Open3.capture2e with a deadline: [output, status].
  def capture_within(*command, timeout: 60, **options)
    Tempfile.create("spec-output") do |log|
      pid = Process.spawn(*command, in: File::NULL, out: log, err: %i[child out], pgroup: true, **options)
      status = exit_status_within(pid, "#{command.grep(String).first(3).join(" ")} to exit", timeout: timeout,
                                                                                           output: log.path)
      [File.read(log.path), status]
    end
  end

  # Runs `block` after the example and its own after hooks, pass or fail.
  def on_release(&block)
    (@releases ||= []) << block
  end

  def release_all
    releases = @releases || []
    @releases = nil
    releases.reverse_each do |release|
      release.call
    rescue StandardError => e
      warn "releasing after an example: #{e.class}: #{e.message}"
    end
  end

  def expired!(what, timeout, saw)
    message = "waited #{timeout} s for #{what}"
    message += "; saw: #{saw}" if saw
    raise Expired, message
  end

  def kill_and_reap(pid)
    [-pid, pid].each do |target|
      Process.kill("KILL", target)
    rescue Errno::ESRCH, Errno::EPERM
      nil
    end
    Process.wait(pid)
    true
  rescue Errno::ECHILD
    true
  end

  def tail(path)
    return "" unless path && File.exist?(path)

    "; its output ended:\n#{File.read(path).lines.last(20).join}"
  end
end

if defined?(RSpec) # bench/soak.rb uses it too
  RSpec.configure do |config|
    config.include Deadlines
    config.prepend_after { release_all }
  end
end
