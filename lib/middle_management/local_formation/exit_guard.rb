module MiddleManagement
  module LocalFormation
    # No process outlives the program that started it: at exit (a Ctrl-C's
    # Interrupt included) every supervisor still registered stops its
    # processes. Only in the process that registered it: a forked child
    # inherits the list but not the processes, and must not signal them.
    module ExitGuard
      @entries = []
      @lock = Mutex.new

      class << self
        def register(supervisor)
          @lock.synchronize do
            @entries << [supervisor, Process.pid]
            unless @installed
              @installed = true
              at_exit { ExitGuard.stop_all }
            end
          end
        end

        def unregister(supervisor)
          @lock.synchronize { @entries.reject! { |entry, _| entry.equal?(supervisor) } }
        end

        def stop_all
          mine = @lock.synchronize { @entries.select { |_, pid| pid == Process.pid }.map(&:first) }
          mine.each(&:stop_all)
        end
      end
    end
  end
end
