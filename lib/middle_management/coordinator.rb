require "middle_management/log"

module MiddleManagement
  # The one Ruby thread per process that hears from the dispatcher: it waits
  # in native code with the GVL released, makes the decisions the dispatcher
  # asks for (they need the app's connections), writes each event to the
  # log and instruments ActiveSupport::Notifications, and beats for this
  # process's job workers. Nothing it meets may kill it.
  class Coordinator
    WAIT = 1.0 # seconds per wait, so #stop is noticed without an interrupt

    def initialize(agent, dispatcher, decision, log)
      @agent = agent
      @dispatcher = dispatcher
      @decision = decision
      @log = log
      @running = true
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

    private

    def run
      while @running
        begin
          case (message = @dispatcher.next_message([WAIT, @agent.soon_wakes.next_in].compact.min))
          when Internal::Native::Request then @decision.run(message)
          when Internal::Native::Event then event(message)
          end
          @agent.soon_wakes.due.each { |pool| @dispatcher.wake(pool, nil) }
          @agent.beat_if_due
        rescue StandardError => e
          @log.failure("the coordinator met an error", e)
        end
      end
    end

    def event(event)
      @log.event(event)
      forget(event.unsent_calls) if event.unsent_calls
      instrument(event)
    end

    # A call that will be retried did not reach Heroku: the app's record must
    # not say it did, or the retry would find nothing to send.
    def forget(calls)
      calls.each { |pool, quantity| @agent.store.forget_quantity(pool, quantity) }
    rescue StandardError => e
      @log.failure("could not record a failed call", e)
    end

    def instrument(event)
      return unless event.notification && defined?(::ActiveSupport::Notifications)

      ::ActiveSupport::Notifications.instrument(event.notification, event.payload)
    end
  end
end
