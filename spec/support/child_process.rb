require "fileutils"
require "shellwords"
require "tmpdir"

# A process an example starts (a sidekiq or Resque worker, a CLI): in a
# process group of its own, its output in a log, guarded against the spec
# process dying first, and stopped with its whole group after the example
# if the example did not stop it.
#
#   worker = start_child(env, RbConfig.ruby, "worker.rb", stop_signal: "QUIT")
#   ... worker.output ... worker.stop
class ChildProcess
  attr_reader :pid

  # `spawn_options`: more of Process.spawn's (uid:, gid:, chdir:).
  def initialize(env, *command, stop_signal: "TERM", **spawn_options)
    @stop_signal = stop_signal
    @log = File.join(Dir.mktmpdir("middle_management-child"), "output.log")
    @pid = Process.spawn(env, *command, in: File::NULL, out: @log, err: %i[child out], pgroup: true, **spawn_options)
    @guard = OrphanGuard.new(@pid, remove: File.dirname(@log))
  end

  def output = File.exist?(@log) ? File.read(@log) : "(no output)"

  def running? = !@status && !reap_now

  # The status once it has exited by itself, within `timeout`.
  def wait(what = "#{self} to exit", timeout: Deadlines::DEFAULT_TIMEOUT)
    @status ||= Deadlines.exit_status_within(@pid, what, timeout: timeout, output: @log)
  end

  # The stop signal (the program's own graceful stop), then KILL for the
  # whole group. Idempotent.
  def stop(grace: 10)
    return @status if @stopped

    @stopped = true
    @guard.release # first, so that it can never signal a group whose id was reused
    unless @status
      signal(@stop_signal, @pid)
      deadline = Deadlines.monotonic + grace
      sleep 0.05 until reap_now || Deadlines.monotonic > deadline
    end
    signal("KILL", -@pid) # anything left of its group, a forked child included
    @status ||= reap
    FileUtils.rm_rf(File.dirname(@log))
    @status
  end

  def to_s = "process #{@pid}"

  private

  def reap_now
    @status ||= Process.wait2(@pid, Process::WNOHANG)&.last
  rescue Errno::ECHILD
    @status = :reaped_elsewhere
  end

  def reap
    Process.wait2(@pid).last # after SIGKILL: at once
  rescue Errno::ECHILD
    :reaped_elsewhere
  end

  def signal(name, pid)
    Process.kill(name, pid)
  rescue Errno::ESRCH, Errno::EPERM
    nil
  end

  module Helpers
    def start_child(env, *command, **options)
      child = ChildProcess.new(env, *command, **options)
      on_release { child.stop }
      child
    end
  end
end

# Kills a process group the specs started if the spec process dies first (a
# crash skips every after hook): a shell waits on a pipe that only this
# process holds open, and kills the group when the pipe closes (then removes
# `remove`, the group's scratch directory, if given).
class OrphanGuard
  def initialize(pgid, signal: "KILL", remove: nil)
    reader, @pipe = IO.pipe
    script = "read _ || true; kill -#{signal} -#{Integer(pgid)} 2>/dev/null"
    script += "; sleep 1; rm -rf -- #{Shellwords.escape(remove)}" if remove
    @watchdog = Process.spawn("/bin/sh", "-c", script, in: reader, out: File::NULL, err: File::NULL, pgroup: true)
    reader.close
  end

  # The group is being stopped properly: the guard goes first, so it can
  # never signal a group whose id was reused.
  def release
    return unless @watchdog

    Process.kill("KILL", @watchdog)
    Process.wait(@watchdog) # after SIGKILL: at once
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  ensure
    @watchdog = nil
    @pipe.close unless @pipe.closed?
  end
end

RSpec.configure { |config| config.include ChildProcess::Helpers } if defined?(RSpec) # bench/soak.rb uses it too
