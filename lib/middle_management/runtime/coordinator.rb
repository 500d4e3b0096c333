require "monitor"
require "middle_management/internal/native"

module MiddleManagement
  module Runtime
    # The one Ruby thread per process that hears from the dispatcher: it waits
    # in native code with the GVL released, makes the decisions the dispatcher
    # asks for (they need the app's connections), records in the store what
    # Heroku confirmed, and writes each event to the log and instruments
    # ActiveSupport::Notifications. Nothing it meets short of process exit
    # ends it; the workers' heartbeats do not depend on it (Worker::Heartbeat).
    class Coordinator
      WAIT = 1.0 # seconds per wait, so #stop is noticed without an interrupt
      PAUSE_AFTER_FAILURE = 1.0 # seconds: a fault that repeats does not spin

      def initialize(agent, dispatcher, decision, log)
        @agent = agent
        @dispatcher = dispatcher
        @decision = decision
        @log = log
        @running = true
        @handling = Monitor.new # one message at a time, on this thread or an exiting one
        @thread = Thread.new { run }
        @thread.name = "middle_management"
        @thread.report_on_exception = false
      end

      def stop
        @running = false
        @thread.wakeup if @thread.alive?
      rescue ThreadError
        nil
      end

      # For a flush (an exiting process's among them), on the caller's
      # thread: handles what the dispatcher has said and this thread has not
      # yet (Heroku's last answers, to record), once the message in hand is
      # done, until `deadline` (monotonic seconds). True when nothing was left.
      def finish(deadline)
        @finishing = true
        @thread.wakeup if @thread.alive? # its wait ends, and it waits no more while we finish
        until now >= deadline
          next sleep(0.005) unless @handling.mon_try_enter

          begin
            message = @dispatcher.next_message(0.0) or return true
            handle(message)
          ensure
            @handling.mon_exit
          end
        end
        false
      rescue ThreadError # the thread ended meanwhile
        retry
      ensure
        @finishing = false
      end

      private

      # A message is taken and handled under @handling, so that #finish,
      # once it holds it, knows nothing is in hand.
      def run
        while @running
          begin
            next sleep(0.005) if @finishing

            @handling.synchronize { handle(@dispatcher.next_message([WAIT, @agent.soon_wakes.next_in].compact.min)) }
            @agent.soon_wakes.due.each { |pool| @dispatcher.wake(pool, nil) }
            @agent.measuring.tick(@agent.chosen_store)
          rescue SystemExit, SignalException
            raise
          rescue Exception => e # rubocop:disable Lint/RescueException -- this thread must outlive any fault
            @log.failure("the coordinator met an error", e)
            sleep PAUSE_AFTER_FAILURE
          end
        end
      end

      def handle(message)
        case message
        when Internal::Bridge::Request then @decision.run(message)
        when Internal::Native::Event then event(message)
        end
      end

      def event(event)
        @log.event(event)
        confirm(*event.confirmed) if event.confirmed
        record_history(event)
        instrument(event)
      end

      # The app's record holds only what Heroku confirmed.
      def confirm(pool, quantity)
        @agent.store.confirm_quantity(pool, quantity)
      rescue StandardError => e
        @log.failure("could not record what Heroku has", e)
      end

      def record_history(event)
        @agent.history.event(@agent.store, event)
        @agent.alerter.failed(@agent.store, event.payload) if event.notification == "error.middle_management"
      rescue StandardError => e
        @log.failure(History::FAILED, e)
      end

      def instrument(event)
        return unless event.notification && defined?(::ActiveSupport::Notifications)

        ::ActiveSupport::Notifications.instrument(event.notification, event.payload)
      end

      def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
