# Runs every test (cargo's, then RSpec's) so that the whole run is bounded:
# each phase has a time limit, and a phase that passes it is stopped (its
# process group: TERM, then KILL) and named. RSpec reports its own phases
# (spec/support/run_phase.rb): a hang in a suite hook, a group's context
# hooks or at_exit is stopped within a minute or two, not at the end of
# the run's limit. When a phase ends, pass or fail, every process it left
# behind (anything carrying this run's mark in its environment, whatever its
# process group) is stopped.
#
#   ruby spec/bounded_run.rb      # bin/test runs it after bin/setup
require "fileutils"
require "rbconfig"
require "securerandom"
require "tmpdir"

class BoundedRun
  MARK = "BOUNDED_RUN_MARK"
  PHASE_FILE = "BOUNDED_RUN_PHASE_FILE"
  TERM_GRACE = 10 # seconds from SIGTERM to SIGKILL
  LEFTOVER_GRACE = 3 # seconds for what a phase started to end by itself
  LOADING_LIMIT = 120 # seconds for RSpec to load the specs, before it reports phases
  POLL = 0.1

  Phase = Struct.new(:name, :command, :limit, :reports_phases, keyword_init: true)

  PHASES = [
    Phase.new(name: "build the Rust tests", command: %w[cargo test --locked --no-run], limit: 15 * 60),
    Phase.new(name: "Rust tests", command: %w[cargo test --locked], limit: 5 * 60),
    Phase.new(name: "RSpec", command: [RbConfig.ruby, "-S", "rspec"], limit: 15 * 60, reports_phases: true)
  ].freeze

  def initialize
    @mark = SecureRandom.hex(8)
    @dir = Dir.mktmpdir("middle_management-test-run")
  end

  def run
    PHASES.each do |phase|
      status = run_phase(phase)
      next if status == :ok

      warn "bin/test: #{status}"
      return false
    end
    true
  ensure
    FileUtils.remove_entry(@dir)
  end

  private

  def run_phase(phase)
    phase_file = File.join(@dir, "phase")
    env = { MARK => @mark }
    env[PHASE_FILE] = phase_file if phase.reports_phases
    started = monotonic
    pid = Process.spawn(env, *phase.command, pgroup: true)
    forward_interrupts_to(pid)
    loop do
      _, status = Process.wait2(pid, Process::WNOHANG)
      return status.success? ? :ok : "#{phase.name} failed (#{status})" if status

      if (hung = overdue(phase, started, phase_file))
        stop_hung(pid)
        return "#{phase.name} hung: #{hung}; stopped it"
      end
      sleep POLL
    end
  ensure
    restore_interrupts
    stop_leftovers(phase.name)
    FileUtils.rm_f(phase_file)
  end

  # Why the phase is overdue, or nil.
  def overdue(phase, started, phase_file)
    elapsed = monotonic - started
    return "still running after its #{phase.limit} s limit" if elapsed > phase.limit
    return unless phase.reports_phases

    limit, name, since = reported_phase(phase_file)
    if name.nil?
      "still loading the specs after #{LOADING_LIMIT} s" if elapsed > LOADING_LIMIT
    elsif monotonic - since > limit
      "in #{name} for more than #{limit.round} s"
    end
  end

  # [limit, name, when it began (on our clock)] of RSpec's current phase.
  def reported_phase(path)
    text = File.read(path)
    limit, name = text.split(" ", 2)
    @seen_since = monotonic unless @seen == text
    @seen = text
    [Float(limit), name, @seen_since]
  rescue Errno::ENOENT
    nil
  end

  # Asks for thread backtraces (RSpec prints them on SIGUSR1), then stops the group.
  def stop_hung(pid)
    signal("USR1", pid)
    sleep 2
    signal("TERM", -pid)
    deadline = monotonic + TERM_GRACE
    sleep POLL until Process.wait2(pid, Process::WNOHANG) || monotonic > deadline
    signal("KILL", -pid)
    reap(pid)
  end

  def stop_leftovers(phase)
    deadline = monotonic + LEFTOVER_GRACE
    sleep POLL until marked_processes.empty? || monotonic > deadline
    left = marked_processes
    return if left.empty?

    warn "bin/test: #{phase} left #{left.size} process#{"es" unless left.size == 1} behind; stopping them:"
    left.each { |pid, command| warn "  #{pid} #{command}" }
    left.each_key { |pid| signal("TERM", pid) }
    deadline = monotonic + TERM_GRACE
    sleep POLL until marked_processes.empty? || monotonic > deadline
    marked_processes.each_key { |pid| signal("KILL", pid) }
  end

  # {pid => command line} of the live processes carrying this run's mark.
  def marked_processes
    Dir.glob("/proc/[0-9]*").each_with_object({}) do |dir, found|
      pid = File.basename(dir).to_i
      next if pid == Process.pid
      next unless File.binread("#{dir}/environ").split("\0").include?("#{MARK}=#{@mark}")

      found[pid] = File.binread("#{dir}/cmdline").tr("\0", " ").strip
    rescue SystemCallError
      nil # gone, or not ours to read
    end
  end

  # The phase runs in a group of its own (so that it can be stopped whole):
  # Ctrl-C in the terminal reaches only this process, which passes it on.
  def forward_interrupts_to(pid)
    %w[INT TERM].each { |name| trap(name) { signal(name, -pid) } }
  end

  def restore_interrupts
    %w[INT TERM].each { |name| trap(name, "DEFAULT") }
  end

  def signal(name, pid)
    Process.kill(name, pid)
  rescue Errno::ESRCH, Errno::EPERM
    nil
  end

  def reap(pid)
    Process.wait(pid)
  rescue Errno::ECHILD
    nil
  end

  def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

exit(BoundedRun.new.run ? 0 : 1) if $PROGRAM_NAME == __FILE__
