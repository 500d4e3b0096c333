require "middle_management/heroku_names"

module MiddleManagement
  module Worker
    # A dyno's name as Heroku gives it in `DYNO`: `worker.3` on Cedar apps,
    # where a scale-down stops the highest numbers first; on Fir-generation
    # apps a name with no number (`worker-5d8f7c9b6-x2k4p`), where which dyno
    # stops is not known. Busy jobs carry these names (see the backends).
    Dyno = Struct.new(:name, :type, :number) do
      def self.current
        ENV["DYNO"]&.then { |name| parse(name) }
      end

      # Nil for nothing that names a dyno (a host name, "host:…", nil).
      def self.parse(name)
        case name.to_s
        when /\A(#{HerokuNames::PROCESS_TYPE_CHAR}+)\.(\d+)\z/o # worker.3
          new(name, Regexp.last_match(1), Integer(Regexp.last_match(2), 10))
        when /\A(\w+)-[a-z0-9]+-[a-z0-9]+\z/ # Fir: worker-5d8f7c9b6-x2k4p (a type with a dash is not told apart)
          new(name, Regexp.last_match(1), nil)
        end
      end

      def numbered? = !number.nil?

      def to_s = name
    end
  end
end
