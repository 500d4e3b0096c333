require "monitor"

module MiddleManagement
  module LocalFormation
    # Runs a Procfile's processes the way Heroku runs dynos: `scale("worker", 3)`
    # keeps worker.1..worker.3 running; scaling down sends SIGTERM to the
    # highest numbers first and SIGKILL `grace` seconds later; a process that
    # exits by itself is restarted after a short, growing delay. With a
    # `boot_delay`, a new dyno starts that many seconds after the call that
    # asked for it (shown as "starting"), as Heroku's take a while to boot.
    #
    # Changes converge at once on the caller's thread (spawning is quick); a
    # background thread keeps the deadlines (SIGKILL, restarts), and one
    # thread per process reaps it, so no zombie is left.
    class Supervisor
      DEFAULT_GRACE = 30 # Heroku's SIGTERM-to-SIGKILL interval
      # PORT of web.1; web.2 gets the next one. Clear of the API's 5000.
      DEFAULT_WEB_PORT = 5100
      RESTART_DELAY = 1.0 # after a first crash; see CrashBackoff
      # How often to look for leftovers of a dyno whose leader already exited.
      GROUP_POLL = 0.05

      Status = Struct.new(:name, :type, :number, :pid, :state, :up_since, keyword_init: true)

      attr_reader :procfile, :grace

      # procfile: a Procfile or its path. output: an IO for the processes'
      # output and lifecycle lines (nil discards them). env: added to every
      # process's environment.
      def initialize(procfile, grace: DEFAULT_GRACE, output: nil, env: {}, web_port: DEFAULT_WEB_PORT,
                     restart_delay: RESTART_DELAY, boot_delay: 0)
        @procfile = procfile.is_a?(Procfile) ? procfile : Procfile.load(procfile)
        @grace = grace
        @output = Output.new(output, names: @procfile.types.map { |type| "#{type}.1" })
        @env = env.to_h { |name, value| [name.to_s, value&.to_s] }
        @web_port = web_port
        @backoff = CrashBackoff.new(restart_delay)
        @lock = Monitor.new
        @changed = @lock.new_cond
        @targets = {}
        @slots = {}       # [type, number] => the Dyno running it
        @retiring = []    # told to stop; kept until nothing of them is left
        @restart_at = {}  # [type, number] => when a crashed slot restarts
        @boot_delay = boot_delay
        @booting = {}     # [type, number] => when a new dyno, still booting, starts
        @stopped = false
        @timekeeper = Thread.new { keep_time }
        @timekeeper.name = "local-formation-supervisor"
        ExitGuard.register(self)
      end

      # Keeps `quantity` processes of `type` running. False once stopped.
      def scale(type, quantity)
        type = type.to_s
        @procfile.command(type)
        raise ArgumentError, "quantity must be a non-negative integer, not #{quantity.inspect}" unless quantity.is_a?(Integer) && quantity >= 0

        @lock.synchronize do
          return false if @stopped

          @targets[type] = quantity
          converge(now)
          @changed.broadcast
        end
        true
      end

      # Environment for processes started from now on (the running ones keep theirs).
      def env=(vars)
        @lock.synchronize { @env = @env.merge(vars.to_h { |name, value| [name.to_s, value&.to_s] }) }
      end

      # {"worker" => 2, "web" => 1}; types not mentioned keep their quantity.
      def apply(quantities)
        quantities.each { |type, quantity| scale(type, quantity) if @procfile.include?(type) }
      end

      def target(type) = @lock.synchronize { @targets.fetch(type.to_s, 0) }

      # Processes of `type` (of every type without one) still alive,
      # including those told to stop that have not exited yet.
      def running(type = nil)
        @lock.synchronize { live.count { |dyno| type.nil? || dyno.type == type.to_s } }
      end

      def pids(type = nil)
        @lock.synchronize { live.select { |dyno| type.nil? || dyno.type == type.to_s }.map(&:pid) }
      end

      # What `heroku ps` would list: state :up or :stopping.
      def dynos
        @lock.synchronize do
          running = live.map do |dyno|
            state = @slots[dyno.slot].equal?(dyno) ? :up : :stopping
            Status.new(name: dyno.name, type: dyno.type, number: dyno.number, pid: dyno.pid, state: state,
                       up_since: dyno.up_since)
          end
          running + @booting.keys.map do |type, number|
            Status.new(name: "#{type}.#{number}", type: type, number: number, state: :starting, up_since: Time.now)
          end
        end
      end

      def stopped? = @lock.synchronize { @stopped }

      # Stops every process (SIGTERM, SIGKILL after `grace`) and returns once
      # none is left. Scaling afterwards does nothing. Calling it again, say
      # with grace: 0 on a second Ctrl-C, shortens the wait.
      def stop_all(grace: @grace)
        @lock.synchronize do
          @stopped = true
          @targets.clear
          @restart_at.clear
          @booting.clear
          @output.system("sending SIGTERM to all processes") unless @slots.empty?
          @slots.values.sort_by { |dyno| -dyno.number }.each { |dyno| retire(dyno) }
          @slots.clear
          deadline = now + grace
          # A crashed dyno's leftovers were sent SIGKILL already: no kill_at.
          @retiring.each { |dyno| dyno.kill_at = [dyno.kill_at, deadline].compact.min }
          @changed.broadcast
          # Bounded even if a leader can never be reaped (someone else waited for it).
          give_up = deadline + 5
          until @retiring.empty? || now > give_up
            tick(now)
            @changed.wait(next_wake(now) || GROUP_POLL)
          end
          @changed.broadcast # the timekeeper may wait for a change: this is its last
        end
        @timekeeper.join(1)
        ExitGuard.unregister(self)
        self
      end

      private

      def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

      def live = (@slots.values + @retiring).reject(&:exited?)

      def converge(at)
        @targets.each do |type, target|
          surplus = @slots.values.select { |dyno| dyno.type == type && dyno.number > target }
          surplus.sort_by { |dyno| -dyno.number }.each { |dyno| retire(@slots.delete(dyno.slot)) }
          [@restart_at, @booting].each { |slots| slots.delete_if { |(slot_type, number), _| slot_type == type && number > target } }
          (1..target).each do |number|
            slot = [type, number]
            next if @slots.key?(slot) || [@restart_at[slot], @booting[slot]].compact.any? { |due| due > at }
            next boot(slot, at) unless @boot_delay.zero? || @booting.key?(slot) || @restart_at.key?(slot)

            @restart_at.delete(slot)
            @booting.delete(slot)
            start(type, number)
          end
        end
      end

      def boot(slot, at)
        @booting[slot] = at + @boot_delay
        @output.line(slot.join("."), format("starting (booting for %.1fs)", @boot_delay))
      end

      def start(type, number)
        # As on Heroku, only web dynos get a PORT.
        env = @env.merge("DYNO" => "#{type}.#{number}", "PORT" => type == "web" ? (@web_port + number - 1).to_s : nil)
        dyno = Dyno.start(type, number, command: @procfile.command(type), env: env, chdir: @procfile.dir, output: @output)
        @slots[dyno.slot] = dyno
        @output.line(dyno.name, "started with pid #{dyno.pid}")
        watch(dyno)
      rescue SystemCallError => e
        # The command cannot even start (not found...): retry like a crash.
        @output.line("#{type}.#{number}", "failed to start: #{e.message}")
        schedule_restart([type, number], 0)
      end

      def retire(dyno)
        @output.line(dyno.name, "stopping (SIGTERM)")
        dyno.signal("TERM")
        dyno.kill_at = now + @grace
        @retiring << dyno
      end

      def watch(dyno)
        thread = Thread.new do
          dyno.wait
          exited(dyno)
        end
        thread.name = "local-formation-#{dyno.name}"
      end

      def exited(dyno)
        @lock.synchronize do
          @output.line(dyno.name, dyno.describe_exit)
          if @slots[dyno.slot].equal?(dyno)
            # Nobody asked it to stop: Heroku calls that a crash.
            @slots.delete(dyno.slot)
            dyno.signal("KILL") # whatever it forked goes with it
            dyno.killed = true
            @retiring << dyno # until that is gone too
            schedule_restart(dyno.slot, now - dyno.started_at) unless @stopped
          end
          @changed.broadcast
        end
      end

      def schedule_restart(slot, ran_for)
        delay = @backoff.delay(slot, ran_for)
        @restart_at[slot] = now + delay
        @output.line(slot.join("."), format("restarting in %.1fs", delay))
      end

      # Deadlines: SIGKILL for dynos past their grace, restarts that are due,
      # and forgetting dynos of which nothing is left.
      def tick(at)
        converge(at) unless @stopped
        @retiring.each do |dyno|
          next if dyno.killed || at < dyno.kill_at

          @output.line(dyno.name, "still running after the grace period: sending SIGKILL")
          dyno.signal("KILL")
          dyno.killed = true
        end
        # Even after SIGKILL: a signal is delivered when its target next runs,
        # and "stopped" must mean gone.
        @retiring.reject! { |dyno| dyno.exited? && !dyno.group_alive? }
      end

      def next_wake(at)
        deadlines = @retiring.reject(&:killed).map(&:kill_at) + @restart_at.values + @booting.values
        waits = deadlines.map { |deadline| [deadline - at, 0.001].max }
        waits << GROUP_POLL if @retiring.any?(&:exited?)
        waits.min
      end

      def keep_time
        @lock.synchronize do
          until @stopped && @retiring.empty?
            tick(now)
            @changed.wait(next_wake(now))
          end
        end
      end
    end
  end
end
