require_relative "example_time_limit"

# Tells spec/bounded_run.rb where this RSpec run is, so that a run that hangs
# outside an example (a before or after(:suite) hook, a group's context
# hooks, at_exit) is stopped within a bound and named. The phase goes to the
# file named by BOUNDED_RUN_PHASE_FILE as "LIMIT_SECONDS NAME".
# On SIGUSR1 (sent by the runner before it stops a hung run) every thread's
# backtrace goes to stderr.
class RunPhase
  LIMITS = { before_suite: 60, context_hooks: 120, after_suite: 60, reporting: 30, exit: 30 }.freeze
  BACKSTOP = ExampleTimeLimit::HOOKS_GRACE + 15 # seconds past an example's own limit

  def initialize(path)
    @path = path
    @groups_left = nil
  end

  def start(_notification)
    @groups_left = RSpec.world.ordered_example_groups.size
    write(LIMITS[:before_suite], "a before(:suite) hook")
  end

  def example_group_started(notification)
    write(LIMITS[:context_hooks], "#{notification.group.description}: before(:context) hooks")
  end

  def example_started(notification)
    example = notification.example
    write(ExampleTimeLimit.limit_of(example) + BACKSTOP, "#{example.full_description} (#{example.location})")
  end

  def example_finished(notification)
    write(LIMITS[:context_hooks], "#{notification.example.example_group.description}: hooks after an example")
  end

  def example_group_finished(notification)
    return unless notification.group.top_level? && (@groups_left -= 1).zero?

    write(LIMITS[:after_suite], "an after(:suite) hook")
  end

  def stop(_notification) = write(LIMITS[:reporting], "the report")

  def close(_notification) = write(LIMITS[:exit], "exit (at_exit handlers)")

  def self.install(config)
    path = ENV["BOUNDED_RUN_PHASE_FILE"] or return

    trap("USR1") { ThreadDump.write(title: "the run is stopped as hung") }
    config.reporter.register_listener(new(path), :start, :example_group_started, :example_started,
                                      :example_finished, :example_group_finished, :stop, :close)
  end

  private

  # Written whole and renamed, so the runner never reads half a line.
  def write(limit, name)
    File.write("#{@path}.new", "#{limit} #{name}")
    File.rename("#{@path}.new", @path)
  end
end

RSpec.configure { |config| RunPhase.install(config) }
