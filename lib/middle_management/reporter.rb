require "middle_management/log"

module MiddleManagement
  # The one Ruby thread per process that hears from the dispatcher: it waits
  # in native code with the GVL released, writes each event to the log,
  # instruments ActiveSupport::Notifications, and counts jobs when asked.
  # Nothing it meets may kill it.
  class Reporter
    WAIT = 1.0 # seconds per wait, so #stop is noticed without an interrupt

    def initialize(agent, dispatcher, log)
      @agent = agent
      @dispatcher = dispatcher
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
          event = @dispatcher.next_event(WAIT)
          handle(event) if event
        rescue StandardError => e
          @log.failure("the reporter met an error", e)
        end
      end
    end

    def handle(event)
      if event[:type] == :recount
        @agent.recount(event[:pool])
      else
        @log.event(event)
        instrument(event)
      end
    end

    def instrument(event)
      return unless defined?(::ActiveSupport::Notifications)

      name = { scaled: "scale.middle_management", call_failed: "error.middle_management" }[event[:type]]
      ::ActiveSupport::Notifications.instrument(name, event) if name
    end
  end
end
